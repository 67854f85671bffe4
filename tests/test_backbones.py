"""Tests for sslzoo.backbones: shapes, published parameter counts, serialisation, errors."""
import numpy as np
import pytest

import keras
import tensorflow as tf
from sslzoo import backbones

# torchvision's published totals (docs "Num Params") minus the 1000-way fc layer.
TORCHVISION_RESNET18 = 11_689_512 - (512 * 1000 + 1000)
TORCHVISION_RESNET34 = 21_797_672 - (512 * 1000 + 1000)
TORCHVISION_RESNET50 = 25_557_032 - (2048 * 1000 + 1000)  # = 23,508,032


def _trainable_count(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _images(batch, size, seed=0):
    return np.random.default_rng(seed).random((batch, size, size, 3), dtype=np.float32)


@pytest.mark.parametrize(
    "depth, stem, width, size, features",
    [
        (18, "cifar", 0.125, 32, 64),
        (34, "cifar", 0.125, 32, 64),
        (50, "cifar", 0.125, 32, 256),
        (18, "imagenet", 0.125, 64, 64),
    ],
)
def test_resnet_feature_sizes(depth, stem, width, size, features):
    model = backbones.resnet(depth, input_shape=(size, size, 3), stem=stem, width=width)
    h = np.asarray(model(_images(2, size), training=False))
    assert h.shape == (2, features)
    assert np.all(np.isfinite(h)) and h.std() > 0


def test_width_scales_every_stage_and_imagenet_stem_downsamples_32x():
    model = backbones.resnet18(input_shape=(64, 64, 3), stem="imagenet", width=0.25)
    assert model.get_layer("stem_conv").filters == 16
    stage_shapes = [model.get_layer(f"stage{s}_block2_out").output.shape[1:] for s in (1, 2, 3, 4)]
    assert stage_shapes == [(16, 16, 16), (8, 8, 32), (4, 4, 64), (2, 2, 128)]


def test_cifar_stem_keeps_resolution():
    model = backbones.resnet18(input_shape=(32, 32, 3), stem="cifar", width=0.125)
    assert model.get_layer("stage1_block2_out").output.shape[1:] == (32, 32, 8)
    assert "stem_pool" not in [layer.name for layer in model.layers]


@pytest.mark.parametrize(
    "builder, stem, expected",
    [
        (backbones.resnet18, "imagenet", TORCHVISION_RESNET18),
        (backbones.resnet18, "cifar", TORCHVISION_RESNET18 - 7 * 7 * 3 * 64 + 3 * 3 * 3 * 64),
        (backbones.resnet34, "imagenet", TORCHVISION_RESNET34),
        (backbones.resnet50, "imagenet", TORCHVISION_RESNET50),
    ],
)
def test_parameter_counts_match_torchvision(builder, stem, expected):
    model = builder(input_shape=(None, None, 3), stem=stem)
    assert _trainable_count(model) == expected  # resnet18 cifar: 11,168,832 (~11.2M)
    # BN moving mean/variance: two per channel, as many as gamma + beta.
    bn_affine = sum(int(np.prod(w.shape)) for w in model.trainable_weights if w.name in ("gamma", "beta"))
    assert sum(int(np.prod(w.shape)) for w in model.non_trainable_weights) == bn_affine


def test_normalize_layer_applies_imagenet_mean_std():
    model = backbones.resnet18(input_shape=(8, 8, 3), stem="cifar", width=0.125)
    normalization = model.get_layer("imagenet_normalization")
    x = _images(2, 8)
    expected = (x - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    # (x - mean) / std per channel in float32, 2 ops on |x| <= ~5: ~2 eps32 x 5 ~ 1e-6 -> 1e-5.
    np.testing.assert_allclose(np.asarray(normalization(x)), expected, rtol=1e-5, atol=1e-5)
    raw = backbones.resnet18(input_shape=(8, 8, 3), stem="cifar", width=0.125, normalize=False)
    assert "imagenet_normalization" not in [layer.name for layer in raw.layers]


@pytest.mark.parametrize("zero_init", [True, False])
def test_zero_init_residual_sets_last_bn_gamma(zero_init):
    model = backbones.resnet50(input_shape=(32, 32, 3), stem="cifar", width=0.125,
                               zero_init_residual=zero_init)
    last_bns = [layer for layer in model.layers if layer.name.endswith("_3_bn")]
    assert len(last_bns) == 16
    for layer in last_bns:
        np.testing.assert_array_equal(layer.gamma.numpy(), 0.0 if zero_init else 1.0)
    np.testing.assert_array_equal(model.get_layer("stage1_block1_1_bn").gamma.numpy(), 1.0)


def test_synchronized_bn_flag_reaches_every_bn():
    model = backbones.resnet18(input_shape=(32, 32, 3), stem="cifar", width=0.125, synchronized_bn=True)
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(bns) == 20 and all(bn.synchronized for bn in bns)


def test_keras_round_trip_gives_identical_outputs(tmp_path):
    model = backbones.resnet18(input_shape=(32, 32, 3), stem="cifar", width=0.125)
    x = _images(3, 32)
    model(x, training=True)  # moves BN statistics away from their initial values
    path = str(tmp_path / "resnet.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_array_equal(np.asarray(restored(x)), np.asarray(model(x)))
    assert restored.count_params() == model.count_params()


def test_small_cnn_and_get():
    model = backbones.get("small_cnn", input_shape=(28, 28, 3), widths=(8, 16))
    assert model.get_layer("conv2_relu").output.shape[1:] == (14, 14, 16)
    assert np.asarray(model(_images(2, 28))).shape == (2, 16)
    assert backbones.get("resnet18", input_shape=(32, 32, 3), stem="cifar", width=0.125).output_shape == (None, 64)
    assert backbones.get("resnet50", input_shape=(None, None, 3), width=0.125).output_shape == (None, 256)


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: backbones.resnet(101), r"depth.*\[18, 34, 50\].*101"),
        (lambda: backbones.resnet(18, stem="tiny"), r"stem.*imagenet.*cifar.*tiny"),
        (lambda: backbones.resnet(18, width=0), r"width.*0"),
        (lambda: backbones.resnet(18, input_shape=(32, 32, 1)), r"input_shape.*\(32, 32, 1\)"),
        (lambda: backbones.small_cnn(widths=()), r"widths"),
        (lambda: backbones.get("vit"), r"vit.*resnet18.*small_cnn"),
    ],
)
def test_bad_arguments_raise(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_any_size_shares_every_variable_and_takes_smaller_images():
    encoder = backbones.resnet18(input_shape=(16, 16, 3), stem="cifar", width=0.125)
    free = backbones.any_size(encoder)
    assert encoder.input_shape == (None, 16, 16, 3) and free.input_shape == (None, None, None, 3)
    assert [id(v) for v in free.weights] == [id(v) for v in encoder.weights]
    images = _images(3, 16)
    np.testing.assert_array_equal(free(images, training=False), encoder(images, training=False))
    assert free(_images(3, 8), training=False).shape == (3, 64)
    # A training step through the rebuilt graph moves the fixed-size encoder's weights.
    before = encoder.get_layer("stem_conv").kernel.numpy().copy()
    optimizer = keras.optimizers.SGD(0.1)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(free(_images(3, 8), training=True) ** 2)
    optimizer.apply(tape.gradient(loss, free.trainable_weights), free.trainable_weights)
    assert np.abs(encoder.get_layer("stem_conv").kernel.numpy() - before).max() > 0


def test_any_size_returns_a_free_size_encoder_itself():
    encoder = backbones.small_cnn(input_shape=(None, None, 3), widths=(4,))
    assert backbones.any_size(encoder) is encoder
