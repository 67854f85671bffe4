"""Tests for sslzoo.data.av.log_mel: against a numpy STFT + HTK mel reference written here."""
import numpy as np
import pytest

import keras
from sslzoo.data.av.log_mel import LogMelSpectrogram, frame_sizes_for, log_mel, num_frames


def _hann_periodic(n):
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)


def _numpy_stft_magnitude(x, frame_length, frame_step):
    """|rFFT| of Hann-windowed frames; the end zero-padded to ceil(S / step) frames. x: (S,)."""
    frames = -(-len(x) // frame_step)
    padded = np.zeros((frames - 1) * frame_step + frame_length)
    padded[:len(x)] = x
    window = _hann_periodic(frame_length)
    rows = [padded[i * frame_step:i * frame_step + frame_length] * window for i in range(frames)]
    return np.abs(np.fft.rfft(np.stack(rows), n=frame_length, axis=-1))


def _hz_to_mel(hz):
    return 1127.0 * np.log1p(np.asarray(hz, np.float64) / 700.0)


def _numpy_mel_matrix(num_bins, spectrogram_bins, sample_rate, lower_hz, upper_hz):
    """Triangles on the HTK mel scale; the DC bin gets no weight. -> (spectrogram_bins, num_bins)."""
    bin_hz = np.linspace(0.0, sample_rate / 2.0, spectrogram_bins)[1:]
    bin_mel = _hz_to_mel(bin_hz)[:, None]
    edges = np.linspace(_hz_to_mel(lower_hz), _hz_to_mel(upper_hz), num_bins + 2)
    left, center, right = edges[:-2][None], edges[1:-1][None], edges[2:][None]
    rising = (bin_mel - left) / (center - left)
    falling = (right - bin_mel) / (right - center)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return np.concatenate([np.zeros((1, num_bins)), weights], axis=0)


def _numpy_log_mel(x, sample_rate, num_bins, lower_hz, upper_hz, frame_length, frame_step, offset):
    magnitude = _numpy_stft_magnitude(x, frame_length, frame_step)
    matrix = _numpy_mel_matrix(num_bins, frame_length // 2 + 1, sample_rate, lower_hz, upper_hz)
    return np.log(magnitude @ matrix + offset)


def _waveforms(batch, samples, sample_rate, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / sample_rate
    tones = np.sin(2 * np.pi * rng.uniform(200, 3000, (batch, 1)) * t[None])
    return (0.5 * tones + 0.1 * rng.standard_normal((batch, samples))).astype(np.float32)


@pytest.mark.parametrize("sample_rate, samples, bins, lower, upper, length, step", [
    (48000, 48000 // 4, 80, 80.0, 7600.0, 2048, 1024),   # MMV's settings, 0.25 s
    (16000, 4000, 40, 60.0, 7000.0, 512, 160),           # another rate, samples not a multiple of the step
])
def test_log_mel_matches_numpy_reference(sample_rate, samples, bins, lower, upper, length, step):
    x = _waveforms(2, samples, sample_rate)
    got = np.asarray(log_mel(x, sample_rate, num_mel_bins=bins, lower_hz=lower, upper_hz=upper,
                             frame_length=length, frame_step=step))
    expected = np.stack([_numpy_log_mel(row.astype(np.float64), sample_rate, bins, lower, upper, length, step, 1e-6)
                         for row in x])
    assert got.shape == (2, num_frames(samples, step), bins) == expected.shape
    # float32 FFT: compare where the mel energy is well above the log offset.
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-3)


def test_unbatched_waveform_and_defaults():
    x = _waveforms(1, 5000, 48000)[0]
    got = np.asarray(log_mel(x, 48000))
    assert got.shape == (5, 80)
    np.testing.assert_allclose(got, np.asarray(log_mel(x[None], 48000))[0], atol=1e-6)


def test_silence_gives_log_offset():
    got = np.asarray(log_mel(np.zeros((1, 2048), np.float32), 48000))
    np.testing.assert_allclose(got, np.log(1e-6), rtol=1e-6)


def test_layer_shape_config_and_keras_round_trip(tmp_path):
    waveform = keras.Input((16000,), name="waveform")
    layer = LogMelSpectrogram(sample_rate=16000, num_mel_bins=40, frame_length=512, frame_step=256)
    spectrogram = layer(waveform)
    assert tuple(spectrogram.shape) == (None, 63, 40)
    model = keras.Model(waveform, spectrogram)
    x = _waveforms(2, 16000, 16000)
    path = tmp_path / "log_mel.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    np.testing.assert_array_equal(np.asarray(restored(x)), np.asarray(model(x)))
    assert restored.layers[-1].get_config()["frame_step"] == 256
    assert layer.compute_output_shape((None, None)) == (None, None, 40)


def test_frame_sizes_for_keeps_durations():
    assert frame_sizes_for(48000) == (2048, 1024)
    assert frame_sizes_for(16000) == (512, 256)  # 682.7 samples -> nearest power of two


@pytest.mark.parametrize("kwargs, message", [
    (dict(upper_hz=9000.0), "upper_hz"),
    (dict(lower_hz=8000.0, upper_hz=7000.0), "lower_hz"),
    (dict(num_mel_bins=0), "num_mel_bins"),
    (dict(frame_step=1.5), "frame_step"),
    (dict(log_offset=0.0), "log_offset"),
])
def test_bad_arguments_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        log_mel(np.zeros((1, 100), np.float32), 16000, **kwargs)
    with pytest.raises(ValueError, match=message):
        LogMelSpectrogram(sample_rate=16000, **kwargs)


def test_waveform_rank_and_dtype_checked():
    with pytest.raises(ValueError, match="waveform"):
        log_mel(np.zeros((1, 2, 100), np.float32), 16000)
    with pytest.raises(ValueError, match="waveform"):
        log_mel(np.zeros((100,), np.int32), 16000)
