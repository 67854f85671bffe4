"""Log-mel spectrograms of raw waveforms, in the TensorFlow graph (MMV's audio input).

    spectrogram = log_mel(waveform, 48000)                  # (B, ceil(samples / 1024), 80)
    layer = LogMelSpectrogram(sample_rate=16000)            # inside an audio encoder

The recipe is MMV's (DMVR's `logmf` spectrogram): a short-time Fourier transform
with a periodic Hann window of `frame_length` samples, FFT length equal to the
frame, `frame_step` samples between frames and the end padded with zeros (so a
waveform of S samples gives ceil(S / frame_step) frames); the magnitude of each
frequency bin; `num_mel_bins` triangular filters of the HTK mel scale
(`tf.signal.linear_to_mel_weight_matrix`, `lower_hz` to `upper_hz`); then
log(mel + log_offset).

Frame sizes are absolute sample counts, not durations. The defaults (2048 / 1024)
are MMV's at 48 kHz (42.7 ms frames every 21.3 ms); at another sample rate the
same arguments give longer frames in time. A caller who wants MMV's durations at
another rate passes `frame_sizes_for(sample_rate)`; a caller who wants the same
FFT everywhere keeps the defaults. Keeping the sizes as explicit arguments makes
the spectrogram's shape predictable from the config alone.
"""
import math

import keras
import tensorflow as tf

MMV_SAMPLE_RATE = 48000
MMV_FRAME_LENGTH = 2048
MMV_FRAME_STEP = 1024


def frame_sizes_for(sample_rate, frame_length=MMV_FRAME_LENGTH, frame_step=MMV_FRAME_STEP,
                    reference_rate=MMV_SAMPLE_RATE):
    """(frame_length, frame_step) scaled from `reference_rate` to `sample_rate`, same durations.

    The length is rounded to the nearest power of two (an efficient FFT) and the
    step keeps the reference step-to-length ratio, e.g. 16 kHz -> (512, 256)
    for MMV's 2048 / 1024 at 48 kHz (32 ms / 16 ms instead of 42.7 / 21.3 ms).
    """
    if not isinstance(sample_rate, (int, float)) or sample_rate <= 0:
        raise ValueError(f"`sample_rate` must be a positive number; received sample_rate={sample_rate!r}")
    length = frame_length * sample_rate / reference_rate
    length = 2 ** max(1, int(round(math.log2(length))))
    step = max(1, int(round(length * frame_step / frame_length)))
    return int(length), step


def num_frames(samples, frame_step=MMV_FRAME_STEP):
    """Frames of `log_mel` for a waveform of `samples` samples: ceil(samples / frame_step)."""
    return -(-int(samples) // int(frame_step))


def _check_arguments(sample_rate, num_mel_bins, lower_hz, upper_hz, frame_length, frame_step, log_offset):
    for name, value in (("num_mel_bins", num_mel_bins), ("frame_length", frame_length),
                        ("frame_step", frame_step)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"`{name}` must be a positive int; received {name}={value!r}")
    if not isinstance(sample_rate, (int, float)) or sample_rate <= 0:
        raise ValueError(f"`sample_rate` must be a positive number; received sample_rate={sample_rate!r}")
    if not 0.0 <= lower_hz < upper_hz:
        raise ValueError(f"`lower_hz` must satisfy 0 <= lower_hz < upper_hz; received "
                         f"lower_hz={lower_hz!r}, upper_hz={upper_hz!r}")
    if upper_hz > sample_rate / 2:
        raise ValueError(f"`upper_hz` must be at most the Nyquist frequency sample_rate / 2 = "
                         f"{sample_rate / 2}; received upper_hz={upper_hz!r}")
    if not log_offset > 0:
        raise ValueError(f"`log_offset` must be positive; received log_offset={log_offset!r}")


def log_mel(waveform, sample_rate, *, num_mel_bins=80, lower_hz=80.0, upper_hz=7600.0,
            frame_length=MMV_FRAME_LENGTH, frame_step=MMV_FRAME_STEP, log_offset=1e-6):
    """Log-magnitude mel spectrogram of a mono waveform.

    Args:
      waveform: float (B, samples) or (samples,), values about [-1, 1].
      sample_rate: samples per second of `waveform` (Hz), e.g. 48000.
      num_mel_bins: mel filters (80 in MMV).
      lower_hz, upper_hz: edges of the mel filter bank (80 and 7600 in MMV);
        `upper_hz` must not exceed sample_rate / 2.
      frame_length: samples per STFT frame, also the FFT length (2048 in MMV).
      frame_step: samples between frames (1024 in MMV).
      log_offset: added before the natural log (1e-6 in MMV).

    Returns:
      float32 (B, frames, num_mel_bins), or (frames, num_mel_bins) for a 1-D
      waveform, with frames = ceil(samples / frame_step) (the end is zero-padded).
    """
    _check_arguments(sample_rate, num_mel_bins, lower_hz, upper_hz, frame_length, frame_step, log_offset)
    waveform = tf.convert_to_tensor(waveform)
    if not waveform.dtype.is_floating:
        raise ValueError(f"`waveform` must be a float tensor; received dtype {waveform.dtype.name}")
    if waveform.shape.rank not in (1, 2):
        raise ValueError(f"`waveform` must be (samples,) or (batch, samples); received shape {waveform.shape}")
    if waveform.shape[-1] == 0:
        raise ValueError(f"`waveform` must hold at least one sample (no frames otherwise); received shape "
                         f"{waveform.shape}")
    waveform = tf.cast(waveform, tf.float32)
    stft = tf.signal.stft(waveform, frame_length=frame_length, frame_step=frame_step,
                          fft_length=frame_length, window_fn=tf.signal.hann_window, pad_end=True)
    magnitude = tf.abs(stft)  # (..., frames, frame_length // 2 + 1)
    mel_matrix = tf.signal.linear_to_mel_weight_matrix(
        num_mel_bins=num_mel_bins, num_spectrogram_bins=frame_length // 2 + 1,
        sample_rate=float(sample_rate), lower_edge_hertz=float(lower_hz), upper_edge_hertz=float(upper_hz))
    mel = tf.tensordot(magnitude, mel_matrix, axes=1)
    mel.set_shape(magnitude.shape[:-1].concatenate([num_mel_bins]))
    return tf.math.log(mel + log_offset)


@keras.saving.register_keras_serializable(package="sslzoo")
class LogMelSpectrogram(keras.layers.Layer):
    """Raw waveform (B, samples) -> log-mel spectrogram (B, frames, num_mel_bins), see `log_mel`.

    No weights; the config holds every argument, so an audio encoder that starts
    with this layer takes raw waveforms and round-trips through `.keras` files.
    It computes in float32 unless given another `dtype`, also under a
    mixed-precision policy (a bfloat16 waveform would lose most of its digits).
    frames = ceil(samples / frame_step), None when `samples` is None.
    """

    def __init__(self, sample_rate=MMV_SAMPLE_RATE, num_mel_bins=80, lower_hz=80.0, upper_hz=7600.0,
                 frame_length=MMV_FRAME_LENGTH, frame_step=MMV_FRAME_STEP, log_offset=1e-6, **kwargs):
        kwargs.setdefault("trainable", False)
        kwargs.setdefault("dtype", "float32")  # the FFT stays float32 under a mixed-precision policy
        super().__init__(**kwargs)
        _check_arguments(sample_rate, num_mel_bins, lower_hz, upper_hz, frame_length, frame_step, log_offset)
        self.sample_rate = sample_rate
        self.num_mel_bins = num_mel_bins
        self.lower_hz = float(lower_hz)
        self.upper_hz = float(upper_hz)
        self.frame_length = frame_length
        self.frame_step = frame_step
        self.log_offset = float(log_offset)
        self.supports_masking = False
        self.built = True

    def call(self, waveform):
        if len(waveform.shape) != 2:
            raise ValueError(f"`waveform` must be (batch, samples); received shape {waveform.shape}")
        return log_mel(waveform, self.sample_rate, num_mel_bins=self.num_mel_bins, lower_hz=self.lower_hz,
                       upper_hz=self.upper_hz, frame_length=self.frame_length, frame_step=self.frame_step,
                       log_offset=self.log_offset)

    def compute_output_shape(self, input_shape):
        samples = input_shape[1]
        frames = None if samples is None else num_frames(samples, self.frame_step)
        return (input_shape[0], frames, self.num_mel_bins)

    def get_config(self):
        return {**super().get_config(), "sample_rate": self.sample_rate, "num_mel_bins": self.num_mel_bins,
                "lower_hz": self.lower_hz, "upper_hz": self.upper_hz, "frame_length": self.frame_length,
                "frame_step": self.frame_step, "log_offset": self.log_offset}
