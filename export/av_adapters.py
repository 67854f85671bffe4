"""Video and audio input adapters: clips of any frame size and raw waveforms, served as is.

Importing this module (as `sslzoo.export` does) registers them under "video" and
"audio" (see `sslzoo.export.adapters` for the adapter protocol):

- `VideoAdapter`: float32 clips (B, T, H, W, 3) in [0, 1], any H and W. When the
  encoder has a fixed frame size (h, w), each frame is cut to the largest centred
  window of aspect h:w (a square for square encoders, as the evaluation reader
  `sslzoo.data.av.frames.process_frames` cuts it), resized bilinearly with
  antialiasing and clipped to [0, 1]; a clip already h x w passes unchanged
  (chosen at run time, so the served model equals the encoder bit for bit there).
  An encoder of free frame size (T, H, W may be None) takes the clip as it is.
- `AudioAdapter`: float32 mono waveforms (B, samples) at the encoder's sample rate
  (its `LogMelSpectrogram` computes the spectrogram inside the encoder). An encoder
  with a fixed number of samples n gets the centred n samples of a longer input,
  or the input followed by zeros when it is shorter; a free-length encoder takes
  the waveform as it is.
"""
import tensorflow as tf

from sslzoo.export.adapters import InputAdapter, encoder_input_shape, register_adapter


def _static(dim):
    return None if dim is None else int(dim)


def centre_crop_to_aspect(frames, height, width):
    """frames (N, h, w, C) -> the largest centred window of aspect height:width (N, h', w', C)."""
    h, w = tf.shape(frames)[1], tf.shape(frames)[2]
    # Window (crop_h, crop_w) with crop_h / crop_w = height / width, as large as fits.
    crop_h = tf.minimum(h, (w * height) // width)
    crop_w = tf.minimum(w, (h * width) // height)
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    return frames[:, top:top + crop_h, left:left + crop_w, :]


def resize_frames(video, height, width):
    """video (B, T, h, w, C) float32 -> (B, T, height, width, C) in [0, 1]; unchanged when already that size."""
    shape = tf.shape(video)

    def resized():
        frames = tf.reshape(video, tf.concat([[-1], shape[2:]], axis=0))
        frames = centre_crop_to_aspect(frames, height, width)
        frames = tf.image.resize(frames, (height, width), method="bilinear", antialias=True)
        frames = tf.clip_by_value(frames, 0.0, 1.0)
        return tf.reshape(frames, tf.concat([shape[:2], [height, width], shape[4:]], axis=0))

    same = tf.logical_and(tf.equal(shape[2], height), tf.equal(shape[3], width))
    return tf.cond(same, lambda: tf.identity(video), resized)


class VideoAdapter(InputAdapter):
    """float32 clips (B, T, H, W, 3) in [0, 1], any H, W -> the encoder's (B, T, h, w, 3)."""

    modality = "video"

    def __init__(self, encoder):
        super().__init__(encoder)
        if not self.matches(encoder):
            raise ValueError(f"`model` must take clips (B, T, H, W, C), C known, got input shape {self.input_shape}")
        _, frames, height, width, channels = self.input_shape
        self.frames, self.height, self.width = _static(frames), _static(height), _static(width)
        self.channels = int(channels)
        if (self.height is None) != (self.width is None):
            raise ValueError(f"`model` must fix both frame height and width or neither, got input shape "
                             f"{self.input_shape}")

    @classmethod
    def matches(cls, encoder):
        shape = encoder_input_shape(encoder)
        return len(shape) == 5 and shape[4] is not None

    @property
    def raw_spec(self):
        return tf.TensorSpec([None, self.frames, None, None, self.channels], tf.float32, name="video")

    @property
    def fixed_spec(self):
        return self.model_spec

    @property
    def model_spec(self):
        return tf.TensorSpec([None, self.frames, self.height, self.width, self.channels], tf.float32, name="video")

    def preprocess(self, raw):
        video = tf.cast(raw, tf.float32)
        if self.height is None:
            return video
        return tf.ensure_shape(resize_frames(video, self.height, self.width), self.model_spec.shape)

    def describe(self):
        frames = self.frames if self.frames is not None else "T (any)"
        size = f"{self.height}x{self.width}" if self.height is not None else "any size"
        return {
            "raw": f"float32 clips [batch, {frames}, height, width, {self.channels}] in [0, 1], any height and width",
            "model": f"float32 clips [batch, {frames}, {self.height or 'H'}, {self.width or 'W'}, {self.channels}]",
            "preprocessing": (
                "none (the encoder takes any frame size)" if self.height is None else
                f"inside the graph: centred crop to aspect {self.height}:{self.width}, bilinear antialiased resize "
                f"to {size}, clip to [0, 1] (as the evaluation reader); clips already {size} pass unchanged"),
        }


def fit_waveform(waveform, samples):
    """(B, s) -> (B, samples): the centred `samples` of a longer input, zeros after a shorter one."""
    length = tf.shape(waveform)[1]
    start = tf.maximum(length - samples, 0) // 2
    cropped = waveform[:, start:start + samples]
    padded = tf.pad(cropped, [[0, 0], [0, samples - tf.shape(cropped)[1]]])
    return tf.ensure_shape(padded, [None, samples])


def sample_rate_of(encoder):
    """The sample rate (Hz) of the encoder's `LogMelSpectrogram` layer, or None."""
    for layer in getattr(encoder, "layers", ()):
        rate = getattr(layer, "sample_rate", None)
        if rate is not None:
            return rate
    return None


class AudioAdapter(InputAdapter):
    """float32 waveforms (B, samples) -> the encoder's (B, n) (n fixed: centred crop or zero padding)."""

    modality = "audio"

    def __init__(self, encoder):
        super().__init__(encoder)
        shape = self.input_shape
        if len(shape) != 2 or getattr(encoder, "tokenizer", None) is not None:
            raise ValueError(f"`model` must take mono waveforms (B, samples), got input shape {shape}")
        self.samples = _static(shape[1])
        self.sample_rate = sample_rate_of(encoder)

    @classmethod
    def matches(cls, encoder):
        shape = encoder_input_shape(encoder)
        named_audio = any(getattr(t, "name", "").startswith("audio") for t in getattr(encoder, "inputs", None) or ())
        return len(shape) == 2 and getattr(encoder, "tokenizer", None) is None and (
            named_audio or sample_rate_of(encoder) is not None)

    @property
    def raw_spec(self):
        return tf.TensorSpec([None, None], tf.float32, name="audio")

    @property
    def fixed_spec(self):
        return self.model_spec

    @property
    def model_spec(self):
        return tf.TensorSpec([None, self.samples], tf.float32, name="audio")

    def preprocess(self, raw):
        waveform = tf.cast(raw, tf.float32)
        return waveform if self.samples is None else fit_waveform(waveform, self.samples)

    def describe(self):
        rate = f" at {self.sample_rate:g} Hz" if self.sample_rate else ""
        samples = self.samples if self.samples is not None else "samples"
        return {
            "raw": f"float32 mono waveforms [batch, samples]{rate}",
            "model": f"float32 waveforms [batch, {samples}] (the log-mel spectrogram is inside the encoder)",
            "preprocessing": ("none" if self.samples is None else
                              f"inside the graph: the centred {self.samples} samples, or zeros appended"),
        }


register_adapter("video", VideoAdapter)
register_adapter("audio", AudioAdapter)
