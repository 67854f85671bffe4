"""MMV's own battery: objective vs numpy, masks, fit, .keras round trip, embeddings, replica split.

Tiny encoders (4 frames of 8 x 8, 800 audio samples, 6-word texts) keep it fast.
"""
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from sslzoo import backbones
from sslzoo.backbones.common import BN_EPSILON
from sslzoo.models.mmv import MMV
from sslzoo.text.mmv_text import MMVTextEncoder
from test_multimodal_masks import np_mil_nce_on_kept, np_nce_on_kept
from testing_utils import run_python

VOCABULARY = ["[PAD]", "[UNK]", "the", "one", "two", "moves", "left", "up", "digit"]
B, K, L = 6, 2, 6


def tiny_mmv(heads="fac", video=None, **kwargs):
    encoders = {
        "video": video or backbones.small_video_cnn(input_shape=(4, 8, 8, 3), widths=(4, 8), synchronized_bn=True),
        "audio": backbones.small_audio_cnn(input_shape=(None,), widths=(4, 8), num_mel_bins=8, frame_length=128,
                                           frame_step=64, synchronized_bn=True),
        "text": MMVTextEncoder(VOCABULARY, sequence_length=L, embedding_dim=8, width=16),
    }
    return MMV(encoders, heads=heads, **{"va_dim": 8, "vat_dim": 6, **kwargs})


def tiny_batch(seed=0, b=B):
    rng = np.random.default_rng(seed)
    text = rng.integers(1, len(VOCABULARY), (b, K, L)).astype(np.int32)
    text[:, :, 4:] = 0
    return {"video": rng.random((b, 4, 8, 8, 3)).astype(np.float32),
            "audio": rng.normal(size=(b, 800)).astype(np.float32),
            "text": text, "text_mask": np.ones((b, K), np.float32), "audio_mask": np.ones((b,), np.float32)}


def _bn(layer, x):
    gamma, beta, mean, var = (np.asarray(w, np.float64) for w in layer.get_weights())
    return gamma * (x - mean) / np.sqrt(var + BN_EPSILON) + beta


def _dense(layer, x):
    weights = [np.asarray(w, np.float64) for w in layer.get_weights()]
    return x @ weights[0] + (weights[1] if len(weights) > 1 else 0.0)


def _randomise_bn(model, seed=3):
    """Non-trivial moving statistics in every head BN, so inference-mode BN is checked."""
    rng = np.random.default_rng(seed)
    for head in (model.video_va, model.va_to_vat):
        bn = head.get_layer("bn")
        gamma, beta, mean, var = bn.get_weights()
        bn.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(size=beta.shape) * 0.1,
                        rng.normal(size=mean.shape) * 0.1, rng.uniform(0.5, 2.0, var.shape)])


def test_fac_objective_matches_numpy_heads_and_losses():
    model = tiny_mmv(temperature=0.1, lambda_va=0.7, lambda_vt=1.3)
    _randomise_bn(model)
    batch = tiny_batch()
    batch["audio_mask"][[1, 4]] = 0.0
    batch["text_mask"][2] = 0.0
    batch["text_mask"][3, 1] = 0.0
    loss, metrics = model.compute_objective(batch, training=False)
    # Encoder features (not under test), then the heads and losses written out in numpy.
    f_v = np.asarray(model.encoders["video"](batch["video"]), np.float64)
    f_a = np.asarray(model.encoders["audio"](batch["audio"]), np.float64)
    f_t = np.asarray(model.encoders["text"](batch["text"].reshape(B * K, L)), np.float64)
    v_va = _dense(model.video_va.get_layer("linear2"),
                  np.maximum(_bn(model.video_va.get_layer("bn"), _dense(model.video_va.get_layer("linear1"), f_v)), 0))
    a_va = _dense(model.audio_va.get_layer("linear"), f_a)
    v_vat = _bn(model.va_to_vat.get_layer("bn"), _dense(model.va_to_vat.get_layer("linear"), np.maximum(v_va, 0)))
    t_vat = _dense(model.text_vat.get_layer("linear"), f_t).reshape(B, K, -1)
    want_va = np_nce_on_kept(v_va, a_va, 0.1, batch["audio_mask"])
    want_vt = np_mil_nce_on_kept(v_vat, t_vat, batch["text_mask"], 0.1)
    np.testing.assert_allclose(float(metrics["loss_va"]), want_va, rtol=2e-5)
    np.testing.assert_allclose(float(metrics["loss_vt"]), want_vt, rtol=2e-5)
    np.testing.assert_allclose(float(loss), 0.7 * want_va + 1.3 * want_vt, rtol=2e-5)


def test_masked_clip_counts_as_absent_from_its_term():
    model = tiny_mmv()
    batch = tiny_batch(1)
    batch["audio_mask"][2] = 0.0
    batch["text_mask"][4] = 0.0
    _, masked = model.compute_objective(batch, training=False)
    without_2 = {k: np.delete(v, 2, axis=0) for k, v in batch.items()}
    without_4 = {k: np.delete(v, 4, axis=0) for k, v in batch.items()}
    _, dropped_2 = model.compute_objective(without_2, training=False)
    _, dropped_4 = model.compute_objective(without_4, training=False)
    np.testing.assert_allclose(float(masked["loss_va"]), float(dropped_2["loss_va"]), rtol=1e-5)
    np.testing.assert_allclose(float(masked["loss_vt"]), float(dropped_4["loss_vt"]), rtol=1e-5)


def test_modality_dropout_is_seeded_per_step_and_only_in_training():
    model = tiny_mmv(audio_dropout=0.5, text_dropout=0.25, seed=5)
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    model.optimizer.build(model.trainable_variables)
    batch = tiny_batch(b=400)
    audio, text = (np.asarray(m) for m in model.modality_masks(batch, training=True))
    again, _ = (np.asarray(m) for m in model.modality_masks(batch, training=True))
    assert np.array_equal(audio, again)
    assert abs(audio.mean() - 0.5) < 0.1 and abs(text[:, 0].mean() - 0.75) < 0.1
    assert np.array_equal(text[:, 0], text[:, 1])  # a clip's text is dropped whole
    model.optimizer.iterations.assign(1)
    assert not np.array_equal(np.asarray(model.modality_masks(batch, training=True)[0]), audio)
    eval_audio, eval_text = model.modality_masks(batch, training=False)
    assert np.all(np.asarray(eval_audio) == 1) and np.all(np.asarray(eval_text) == 1)


@pytest.mark.parametrize("heads", ["fac", "shared", "disjoint"])
def test_embed_shapes_and_unit_joint_spaces(heads):
    model = tiny_mmv(heads)
    batch = tiny_batch()
    inputs = {"video": batch["video"], "audio": batch["audio"], "text": batch["text"][:, 0]}
    widths = {"features": None, "va": 8, "vat": 6, "vt": 6}
    for modality, x in inputs.items():
        spaces = model.spaces(modality)
        assert spaces[0] == "features"
        for space in spaces:
            out = np.asarray(model.embed(x, modality, space))
            assert out.shape[0] == B
            if space != "features":
                assert out.shape[1] == widths[space]
                np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    assert model.common_space("video", "audio") == ("vat" if heads == "shared" else "va")
    assert model.common_space("audio", "text") == (None if heads == "disjoint" else "vat")
    assert model.encode_text(["the one moves left"]).shape == (1, 6)
    with pytest.raises(ValueError, match="`space`"):
        model.embed(inputs["text"], "text", "va")


def test_short_fit_lowers_the_loss_and_keras_round_trip(tmp_path):
    keras.utils.set_random_seed(0)
    model = tiny_mmv(audio_dropout=0.1)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    data = tf.data.Dataset.from_tensor_slices(tiny_batch(2, b=48)).batch(16, drop_remainder=True)
    history = model.fit(data.repeat(), steps_per_epoch=3, epochs=6, verbose=0).history
    assert history["loss"][-1] < 0.8 * history["loss"][0], history["loss"]
    path = os.path.join(tmp_path, "mmv.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, MMV) and restored.get_config()["audio_dropout"] == 0.1
    batch = tiny_batch(3)
    for modality, x in (("video", batch["video"]), ("audio", batch["audio"]), ("text", batch["text"][:, 1])):
        for space in model.spaces(modality):
            np.testing.assert_allclose(np.asarray(restored.embed(x, modality, space)),
                                       np.asarray(model.embed(x, modality, space)), atol=1e-6)
    np.testing.assert_array_equal(np.asarray(restored.tokenizer(tf.constant(["the digit two"]))),
                                  np.asarray(model.tokenizer(tf.constant(["the digit two"]))))


@pytest.mark.parametrize("kwargs, argument", [
    ({"heads": "late"}, "heads"), ({"va_dim": 0}, "va_dim"), ({"temperature": 0.0}, "temperature"),
    ({"audio_dropout": 1.0}, "audio_dropout"), ({"lambda_vt": -1.0}, "lambda_vt"),
])
def test_bad_arguments_raise_naming_them(kwargs, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        tiny_mmv(**kwargs)


def test_missing_encoder_and_bad_batch_raise():
    model = tiny_mmv()
    with pytest.raises(ValueError, match="`encoders`"):
        MMV({"video": model.encoders["video"], "audio": model.encoders["audio"]})
    batch = tiny_batch()
    batch["text"] = batch["text"][:, 0]  # (B, L): K missing
    with pytest.raises(ValueError, match="batch_spec"):
        model.compute_objective(batch, training=False)


CHILD = """
import sys
import numpy as np
import keras
import tensorflow as tf
from objective_harness import set_float_dtype, weight_difference
from test_mmv import tiny_batch, tiny_mmv
from testing_utils import write_result

def fit(strategy, initial=None):
    with strategy.scope():
        keras.utils.set_random_seed(7)
        model = tiny_mmv(audio_dropout=0.3, text_dropout=0.2, seed=1)
        if initial is not None:
            model.set_weights(initial)
        start = model.get_weights()
        model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    model.fit(tf.data.Dataset.from_tensor_slices(data).batch(8, drop_remainder=True), epochs=1, steps_per_epoch=2,
              verbose=0, shuffle=False)
    return model, start

set_float_dtype("float64")
data = tiny_batch(4, b=16)
data["audio_mask"][[0, 1, 2, 9]] = 0.0
data["text_mask"][[5, 12, 13]] = 0.0
data = {k: (v.astype(np.float64) if v.dtype.kind == "f" else v) for k, v in data.items()}
single, start = fit(tf.distribute.OneDeviceStrategy("/cpu:0"))
split, _ = fit(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]), start)
diff, worst = weight_difference(single, split)
moved = max(float(np.max(np.abs(a - b))) for a, b in zip(single.get_weights(), start) if a.size and a.dtype.kind == "f")
write_result({"diff": diff, "worst": worst, "moved": moved, "dtype": str(single.weights[0].dtype)})
"""


@pytest.mark.subprocess
def test_two_replicas_match_one_device_in_float64(tmp_path):
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    result = run_python(CHILD, devices=2, tmp_path=tmp_path, env={"PYTHONPATH": tests_dir})
    assert "float64" in result["dtype"] and result["moved"] > 1e-4, result
    assert result["diff"] <= 1e-9, result
