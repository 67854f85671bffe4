"""Tests for the video encoders: shapes at any size, TSM's shift, `.keras` round trip, gradients."""
import os

import numpy as np
import pytest

import keras
import tensorflow as tf
from sslzoo import backbones
from sslzoo.backbones import video


def _clips(batch, frames, size, seed=0):
    return np.random.default_rng(seed).random((batch, frames, size, size, 3), dtype=np.float32)


def _numpy_shift(x, frames, fraction):
    """TSM reference: x (B*T, H, W, C); channels [0, n) from t+1, [n, 2n) from t-1, zeros past the ends."""
    clips = x.reshape((-1, frames) + x.shape[1:])
    out = clips.copy()
    n = int(x.shape[-1] * fraction)
    out[..., :n] = 0.0
    out[..., n:2 * n] = 0.0
    for t in range(frames):
        if t + 1 < frames:
            out[:, t, ..., :n] = clips[:, t + 1, ..., :n]
        if t >= 1:
            out[:, t, ..., n:2 * n] = clips[:, t - 1, ..., n:2 * n]
    return out.reshape(x.shape)


# Tiny configurations: (builder, kwargs, features).
TINY = {
    "tsm_resnet18": (backbones.tsm_resnet18, dict(stem="cifar", width=0.125), 64),
    "tsm_resnet50": (backbones.tsm_resnet50, dict(stem="cifar", width=0.0625), 128),
    "s3d": (backbones.s3d, dict(width=0.0625), 64),
    "small_video_cnn": (backbones.small_video_cnn, dict(widths=(8, 16)), 16),
}


@pytest.mark.parametrize("name", sorted(TINY))
def test_output_shape_at_any_clip_size(name):
    builder, kwargs, features = TINY[name]
    model = builder(**kwargs)
    assert model.input_shape == (None, None, None, None, 3)
    for frames, size in ((4, 16), (8, 24)):
        h = np.asarray(model(_clips(2, frames, size), training=False))
        assert h.shape == (2, features)
        assert np.all(np.isfinite(h)) and h.std() > 0


def test_registered_in_backbones():
    for name in ("tsm_resnet18", "tsm_resnet50", "s3d", "small_video_cnn"):
        assert name in backbones.BACKBONES
    model = backbones.get("small_video_cnn", input_shape=(16, 32, 32, 3), widths=(8,), temporal_strides=(1,))
    assert model.input_shape == (None, 16, 32, 32, 3)


@pytest.mark.parametrize("spatial_strides, temporal_strides, expected", [
    (None, None, [(8, 32, 32, 8), (4, 16, 16, 16)]),   # default: full size first, then halves
    ((2, 2), (1, 4), [(16, 16, 16, 8), (4, 8, 8, 16)]),
])
def test_small_video_cnn_strides_shape_each_layer(spatial_strides, temporal_strides, expected):
    model = backbones.small_video_cnn(input_shape=(16, 32, 32, 3), widths=(8, 16), spatial_strides=spatial_strides,
                                      temporal_strides=temporal_strides)
    assert [tuple(model.get_layer(f"conv{i}_temporal_relu").output.shape[1:]) for i in (1, 2)] == expected


@pytest.mark.parametrize("fraction", [0.125, 0.25])
def test_temporal_shift_matches_numpy(fraction):
    frames = 4
    x = np.random.default_rng(1).standard_normal((2 * frames, 3, 2, 16)).astype(np.float32)
    got = np.asarray(video.temporal_shift(tf.constant(x), frames, fraction))
    np.testing.assert_array_equal(got, _numpy_shift(x, frames, fraction))
    layer = video.TemporalShift(fraction)
    got_layer = np.asarray(layer(tf.constant(x), tf.zeros((2, frames, 1, 1, 3))))
    np.testing.assert_array_equal(got_layer, got)


def test_tsm_mixes_frames_and_2d_resnet_does_not():
    """Changing frame 0 moves other frames' features in TSM; shift_fraction=0 keeps frames independent."""
    x = _clips(1, 4, 16)
    x_changed = x.copy()
    x_changed[0, 0] = 1.0 - x_changed[0, 0]
    stage_out = "stage4_block2_out"
    for fraction, should_mix in ((0.125, True), (0.0, False)):
        model = backbones.tsm_resnet18(stem="cifar", width=0.125, shift_fraction=fraction, zero_init_residual=False)
        features = keras.Model(model.input, model.get_layer(stage_out).output)
        a, b = np.asarray(features(x)), np.asarray(features(x_changed))  # (1 * 4, h, w, C)
        later_frames_moved = np.abs(a[1:] - b[1:]).max()
        assert (later_frames_moved > 1e-4) == should_mix, (fraction, later_frames_moved)


def test_tsm_width_and_bottleneck_feature_count():
    model = backbones.tsm_resnet(50, stem="imagenet", width=0.125)
    assert model.output_shape == (None, 256)
    assert model.get_layer("stem_conv").filters == 8
    assert model.get_layer("stage1_block1_shift").shift_fraction == 0.125


def test_s3d_gating_and_downsampling():
    model = backbones.s3d(width=0.0625, input_shape=(16, 64, 64, 3))
    assert model.get_layer("mixed_5c_concat").output.shape[1:4] == (2, 2, 2)  # T / 8, H / 32
    assert model.output_shape == (None, 64)  # 1024 * width
    plain = backbones.s3d(width=0.0625, gating=False)
    assert not [layer for layer in plain.layers if isinstance(layer, video.SelfGating)]
    assert len([layer for layer in model.layers if isinstance(layer, video.SelfGating)]) == 1 + 9 * 4


@pytest.mark.parametrize("name", ["tsm_resnet18", "s3d", "small_video_cnn"])
def test_keras_round_trip_gives_identical_outputs(name, tmp_path):
    builder, kwargs, _ = TINY[name]
    model = builder(**kwargs)
    x = _clips(2, 4, 16)
    model(x, training=True)  # move the BN statistics off their initial values
    path = tmp_path / f"{name}.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    np.testing.assert_array_equal(np.asarray(restored(x, training=False)), np.asarray(model(x, training=False)))
    np.testing.assert_array_equal(np.asarray(restored(_clips(1, 6, 20))), np.asarray(model(_clips(1, 6, 20))))


@pytest.mark.parametrize("name", sorted(TINY))
def test_gradient_reaches_every_trainable_weight(name):
    builder, kwargs, _ = TINY[name]
    kwargs = dict(kwargs, **({"zero_init_residual": False} if name.startswith("tsm") else {}))
    model = builder(**kwargs)
    x = tf.constant(_clips(2, 4, 16))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(model(x, training=True) - 1.0))
    grads = tape.gradient(loss, model.trainable_weights)
    dead = [w.path for w, g in zip(model.trainable_weights, grads) if g is None or not np.any(np.asarray(g))]
    assert not dead


def test_synchronized_bn_option_reaches_every_bn():
    model = backbones.small_video_cnn(widths=(8,), temporal_strides=(1,), synchronized_bn=True)
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert bns and all(layer.synchronized for layer in bns)


@pytest.mark.parametrize("builder, kwargs, message", [
    (backbones.tsm_resnet, dict(depth=101), "depth"),
    (backbones.tsm_resnet18, dict(stem="tiny"), "stem"),
    (backbones.tsm_resnet18, dict(input_shape=(32, 32, 3)), "input_shape"),
    (backbones.tsm_resnet18, dict(shift_fraction=0.75), "shift_fraction"),
    (backbones.s3d, dict(width=0), "width"),
    (backbones.small_video_cnn, dict(widths=(8, 16), temporal_strides=(1,)), "temporal_strides"),
    (backbones.small_video_cnn, dict(widths=()), "widths"),
    (backbones.small_video_cnn, dict(widths=(8, 16), spatial_strides=(2, 0)), "spatial_strides"),
])
def test_bad_arguments_name_the_argument(builder, kwargs, message):
    with pytest.raises(ValueError, match=message):
        builder(**kwargs)


def test_volume_batch_norm_matches_numpy_over_all_but_channels():
    x = (3.0 * np.random.default_rng(2).standard_normal((2, 3, 4, 5, 6)) + 1.0).astype(np.float32)
    layer = video.VolumeBatchNorm(momentum=0.9, epsilon=1e-5)
    got = np.asarray(layer(x, training=True))
    mean, var = x.mean(axis=(0, 1, 2, 3)), x.var(axis=(0, 1, 2, 3))
    np.testing.assert_allclose(got, (x - mean) / np.sqrt(var + 1e-5), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(layer.moving_variance), 0.9 + 0.1 * var, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(layer(x, training=False)),
                               (x - layer.moving_mean.numpy()) / np.sqrt(layer.moving_variance.numpy() + 1e-5),
                               rtol=1e-4, atol=1e-4)


DISTRIBUTED_SCRIPT = """
import numpy as np, keras
from sslzoo import backbones
from testing_utils import write_result

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])  # one strategy per process
x = np.random.default_rng(0).random((4, 4, 16, 16, 3), dtype=np.float32)
builders = {
    "small_video_cnn": lambda sync: backbones.small_video_cnn(widths=(8, 16), synchronized_bn=sync),
    "tsm_resnet18": lambda sync: backbones.tsm_resnet18(stem="cifar", width=0.125, synchronized_bn=sync,
                                                        zero_init_residual=False),
}
result = {}
for name, build in builders.items():
    for sync in (True, False):
        keras.utils.set_random_seed(0)
        single = build(sync)
        ref = single(x, training=True).numpy()
        order = [2, 0, 3, 1]
        floor = float(np.abs(single(x[order], training=True).numpy()[np.argsort(order)] - ref).max())
        with strategy.scope():
            model = build(sync)
        model.set_weights(single.get_weights())
        batch = next(iter(strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(x))))
        out = tf.function(lambda b: strategy.run(lambda v: model(v, training=True), args=(b,)))(batch)
        got = np.concatenate([t.numpy() for t in strategy.experimental_local_results(out)])
        result[f"{name}_{sync}"] = {"difference": float(np.abs(got - ref).max()), "floor": floor}
write_result(result)
"""


def test_synchronized_bn_two_replicas_match_one_device(tmp_path):
    """Global-batch BN statistics: 2 replicas give the one-device output to the permutation floor."""
    from testing_utils import run_python

    tests_dir = os.path.dirname(os.path.abspath(__file__))
    result = run_python(f"import sys; sys.path.insert(0, {tests_dir!r})\n" + DISTRIBUTED_SCRIPT, tmp_path=tmp_path)
    for name in ("small_video_cnn", "tsm_resnet18"):
        synced, local = result[f"{name}_True"], result[f"{name}_False"]
        tolerance = max(10 * synced["floor"], 1e-5)
        assert synced["difference"] <= tolerance, (name, synced)
        assert local["difference"] > 100 * tolerance, (name, local)  # per-replica statistics are caught
