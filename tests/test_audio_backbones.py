"""Tests for the audio encoders: raw waveform in, log-mel in the graph, shapes, round trip, gradients."""
import numpy as np
import pytest

import keras
import tensorflow as tf
from sslzoo import backbones
from sslzoo.data.av.log_mel import LogMelSpectrogram, log_mel

MEL_16K = dict(sample_rate=16000, num_mel_bins=40, frame_length=512, frame_step=256)
TINY = {
    "audio_resnet18": (backbones.audio_resnet18, dict(MEL_16K, stem="cifar", width=0.125), 64),
    "audio_resnet50": (backbones.audio_resnet50, dict(MEL_16K, stem="imagenet", width=0.0625), 128),
    "small_audio_cnn": (backbones.small_audio_cnn, dict(widths=(8, 16)), 16),
}


def _waveforms(batch, samples, seed=0):
    return (0.1 * np.random.default_rng(seed).standard_normal((batch, samples))).astype(np.float32)


@pytest.mark.parametrize("name", sorted(TINY))
def test_raw_waveform_of_any_length_to_features(name):
    builder, kwargs, features = TINY[name]
    model = builder(**kwargs)
    assert model.input_shape == (None, None)
    for samples in (4000, 7777):
        h = np.asarray(model(_waveforms(2, samples), training=False))
        assert h.shape == (2, features)
        assert np.all(np.isfinite(h)) and h.std() > 0


def test_first_layer_is_the_log_mel_of_the_config():
    model = backbones.small_audio_cnn(input_shape=(8000,), sample_rate=16000, num_mel_bins=32,
                                      frame_length=256, frame_step=128, widths=(8,))
    layer = model.get_layer("log_mel")
    assert isinstance(layer, LogMelSpectrogram) and layer.num_mel_bins == 32 and layer.sample_rate == 16000
    assert model.get_layer("as_image").output.shape[1:] == (63, 32, 1)
    x = _waveforms(2, 8000)
    expected = np.asarray(log_mel(x, 16000, num_mel_bins=32, frame_length=256, frame_step=128))
    np.testing.assert_allclose(np.asarray(layer(x)), expected, rtol=0, atol=1e-6)


def test_registered_in_backbones_with_mmv_defaults():
    for name in ("audio_resnet18", "audio_resnet50", "small_audio_cnn"):
        assert name in backbones.BACKBONES
    model = backbones.get("audio_resnet18", width=0.125)
    layer = model.get_layer("log_mel")
    assert (layer.sample_rate, layer.num_mel_bins, layer.lower_hz, layer.upper_hz,
            layer.frame_length, layer.frame_step, layer.log_offset) == (48000, 80, 80.0, 7600.0, 2048, 1024, 1e-6)


@pytest.mark.parametrize("name", ["audio_resnet18", "small_audio_cnn"])
def test_keras_round_trip_gives_identical_outputs(name, tmp_path):
    builder, kwargs, _ = TINY[name]
    model = builder(**kwargs)
    x = _waveforms(2, 4000)
    model(x, training=True)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    np.testing.assert_array_equal(np.asarray(restored(x)), np.asarray(model(x)))
    assert restored.get_layer("log_mel").get_config() == model.get_layer("log_mel").get_config()


@pytest.mark.parametrize("name", sorted(TINY))
def test_gradient_reaches_every_trainable_weight(name):
    builder, kwargs, _ = TINY[name]
    kwargs = dict(kwargs, **({"zero_init_residual": False} if "resnet" in name else {}))
    model = builder(**kwargs)
    x = tf.constant(_waveforms(4, 4000))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(model(x, training=True) - 1.0))
    grads = tape.gradient(loss, model.trainable_weights)
    dead = [w.path for w, g in zip(model.trainable_weights, grads) if g is None or not np.any(np.asarray(g))]
    assert not dead


@pytest.mark.parametrize("builder, kwargs, message", [
    (backbones.audio_resnet, dict(depth=20), "depth"),
    (backbones.audio_resnet18, dict(stem="tiny"), "stem"),
    (backbones.audio_resnet18, dict(width=-1), "width"),
    (backbones.audio_resnet18, dict(input_shape=(100, 1)), "input_shape"),
    (backbones.small_audio_cnn, dict(sample_rate=8000), "upper_hz"),
    (backbones.small_audio_cnn, dict(widths=(0,)), "widths"),
])
def test_bad_arguments_name_the_argument(builder, kwargs, message):
    with pytest.raises(ValueError, match=message):
        builder(**kwargs)
