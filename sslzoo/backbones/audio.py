"""Audio encoders: `keras.Model`s from raw mono waveforms (B, samples) float32 to h (B, F).

    encoder = sslzoo.backbones.audio_resnet(50, sample_rate=48000)       # MMV's audio ResNet50
    encoder = sslzoo.backbones.small_audio_cnn(sample_rate=16000)        # CPU presets

The first layer, `sslzoo.data.av.log_mel.LogMelSpectrogram`, turns the waveform
into a log-mel spectrogram (B, frames, num_mel_bins) inside the graph (MMV's
recipe: 80 bins 80-7600 Hz, frames 2048 / step 1024 samples, log(x + 1e-6)); its
arguments are the encoder's, so the config and an export carry them. The
spectrogram is read as a one-channel image (B, frames, num_mel_bins, 1),
standardised by a BatchNorm (log-mel values are around -14 to +5) and fed to 2-D
convolutions; the last feature map is averaged over time and frequency.
"""
import keras

from sslzoo.backbones.common import batch_norm, conv_bn
from sslzoo.backbones.resnet import (RESNET_LAYOUTS, STAGE_CHANNELS, _residual_block, check_resnet_arguments,
                                     resnet_stem)
from sslzoo.data.av.log_mel import MMV_FRAME_LENGTH, MMV_FRAME_STEP, MMV_SAMPLE_RATE, LogMelSpectrogram


def check_waveform_shape(input_shape, argument="input_shape"):
    """Returns `input_shape` as a tuple (samples,), samples an int or None; raises ValueError otherwise."""
    shape = tuple(input_shape) if isinstance(input_shape, (list, tuple)) else None
    if shape is None or len(shape) != 1 or not (shape[0] is None or (isinstance(shape[0], int) and shape[0] > 0)):
        raise ValueError(f"`{argument}` must be (samples,) for mono waveforms, samples a positive int or None; "
                         f"received {argument}={input_shape!r}")
    return shape


def _spectrogram_image(input_shape, synchronized_bn, mel):
    """waveform Input (B, samples) -> standardised log-mel image (B, frames, bins, 1)."""
    waveform = keras.Input(shape=check_waveform_shape(input_shape), name="audio")
    spectrogram = LogMelSpectrogram(name="log_mel", **mel)(waveform)
    image = keras.layers.Reshape((-1, mel["num_mel_bins"], 1), name="as_image")(spectrogram)
    return waveform, batch_norm("input_bn", synchronized=synchronized_bn)(image)


def audio_resnet(depth=50, input_shape=(None,), sample_rate=MMV_SAMPLE_RATE, num_mel_bins=80, lower_hz=80.0,
                 upper_hz=7600.0, frame_length=MMV_FRAME_LENGTH, frame_step=MMV_FRAME_STEP, log_offset=1e-6,
                 stem="imagenet", width=1.0, synchronized_bn=False, zero_init_residual=True, name=None):
    """Builds a ResNet over the log-mel spectrogram: waveform (B, samples) -> h (B, F).

    Args:
      depth: 18, 34 (basic blocks) or 50 (bottleneck blocks, MMV's audio network).
      input_shape: (samples,); samples may be None.
      sample_rate, num_mel_bins, lower_hz, upper_hz, frame_length, frame_step,
        log_offset: the spectrogram, as in `sslzoo.data.av.log_mel.log_mel`.
      stem: "imagenet" (7x7/2 conv, 3x3/2 max-pool) or "cifar" (3x3/1 conv) for
        short clips with few frames.
      width: multiplier on every channel count.
      synchronized_bn: cross-replica BatchNorm (global-batch statistics).
      zero_init_residual: start each block's last BN gamma at 0.
      name: model name; default "audio_resnet{depth}".

    Returns:
      `keras.Model`; F = 512 * width (18/34) or 2048 * width (50).
    """
    check_resnet_arguments(depth, stem, width)
    mel = dict(sample_rate=sample_rate, num_mel_bins=num_mel_bins, lower_hz=lower_hz, upper_hz=upper_hz,
               frame_length=frame_length, frame_step=frame_step, log_offset=log_offset)
    waveform, x = _spectrogram_image(input_shape, synchronized_bn, mel)
    kind, blocks_per_stage = RESNET_LAYOUTS[depth]
    x = resnet_stem(x, stem, width, synchronized_bn)
    for stage, (channels, blocks) in enumerate(zip(STAGE_CHANNELS, blocks_per_stage)):
        for block in range(blocks):
            strides = 2 if (stage > 0 and block == 0) else 1
            x = _residual_block(x, kind, max(1, int(round(channels * width))), strides,
                                f"stage{stage + 1}_block{block + 1}", synchronized_bn, zero_init_residual)
    h = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(waveform, h, name=name or f"audio_resnet{depth}")


def small_audio_cnn(input_shape=(None,), sample_rate=16000, num_mel_bins=40, lower_hz=80.0, upper_hz=7600.0,
                    frame_length=512, frame_step=256, log_offset=1e-6, widths=(32, 64, 128),
                    synchronized_bn=False, name="small_audio_cnn"):
    """Builds a small CNN over the log-mel spectrogram for CPU presets: waveform (B, samples) -> h (B, widths[-1]).

    One 3x3 conv-BN-ReLU per entry of `widths` on the (frames, bins) image; the
    first keeps the resolution, each later one halves it; then average pooling.
    The defaults suit 16 kHz audio (MMV's frame durations at 16 kHz, 40 bins):
    one second is 63 frames.

    Args:
      input_shape: (samples,); samples may be None.
      sample_rate, num_mel_bins, lower_hz, upper_hz, frame_length, frame_step,
        log_offset: the spectrogram, as in `sslzoo.data.av.log_mel.log_mel`.
      widths: channel count of each conv layer, at least one positive int.
      synchronized_bn: cross-replica BatchNorm.
      name: model name.
    """
    widths = tuple(widths) if isinstance(widths, (list, tuple)) else ()
    if not widths or not all(isinstance(w, int) and w > 0 for w in widths):
        raise ValueError(f"`widths` must be a non-empty sequence of positive ints; received widths={widths!r}")
    mel = dict(sample_rate=sample_rate, num_mel_bins=num_mel_bins, lower_hz=lower_hz, upper_hz=upper_hz,
               frame_length=frame_length, frame_step=frame_step, log_offset=log_offset)
    waveform, x = _spectrogram_image(input_shape, synchronized_bn, mel)
    for i, filters in enumerate(widths):
        x = conv_bn(x, filters, 3, 1 if i == 0 else 2, f"conv{i + 1}", synchronized_bn=synchronized_bn)
    h = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(waveform, h, name=name)


__all__ = ["audio_resnet", "check_waveform_shape", "small_audio_cnn"]
