"""Finding and decoding media files for indexing: images, audio, video clips.

- Images (.png .jpg .jpeg .bmp .gif): `tf.io.decode_image` -> uint8 (H, W, C).
- Audio (.wav with the standard library `wave`; .flac .mp3 .ogg .m4a with PyAV)
  -> mono float32 (samples,) in [-1, 1] at the requested rate.
- Video (.mp4 .mov .mkv .webm .avi, PyAV) -> clips of `clip_seconds`: each clip is
  `frames` RGB frames float32 (T, H, W, 3) in [0, 1], evenly spaced in the window.

Every decoder raises `MediaError` on a file it cannot read, so callers can skip
and list it.
"""
import os
import re
import wave

import numpy as np

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".m4a")
VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm", ".avi")
SHARD_MARKERS = (".tfrecord",)
SHARD_NAME = re.compile(r"-\d{5}-of-\d{5}$")  # sslzoo.data.av.write_clips: NAME-00000-of-00004
MAX_VIDEO_SIDE = 256  # frames are shrunk to this longer side while decoding


class MediaError(ValueError):
    """A file that cannot be decoded (the message names the file and the reason)."""


def media_type(path):
    """"image", "audio", "video", "shard" or None, from the file name."""
    name = os.path.basename(os.fspath(path)).lower()
    extension = os.path.splitext(name)[1]
    if extension in IMAGE_EXTENSIONS:
        return "image"
    if extension in AUDIO_EXTENSIONS:
        return "audio"
    if extension in VIDEO_EXTENSIONS:
        return "video"
    if any(marker in name for marker in SHARD_MARKERS) or SHARD_NAME.search(name):
        return "shard"
    return None


def list_media(sources):
    """[(absolute path, media type, root)] under files/folders `sources`, sorted, known types only.

    Args:
      sources: a path or a list of paths (files or folders, searched recursively).
    """
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    found = []
    for source in sources:
        source = os.path.abspath(os.fspath(source))
        if os.path.isfile(source):
            kind = media_type(source)
            if kind is None:
                raise ValueError(f"`media` {source!r} is not a known image, audio, video or shard file")
            found.append((source, kind, os.path.dirname(source)))
            continue
        if not os.path.isdir(source):
            raise ValueError(f"`media` must be existing files or folders, got {source!r}")
        for root, folders, names in os.walk(source):
            folders.sort()
            for name in sorted(names):
                kind = media_type(name)
                if kind is not None and not name.startswith("."):
                    found.append((os.path.join(root, name), kind, source))
    return found


def label_of(path, root):
    """The sub-folder name holding `path` under `root` (an image-folder class), else None."""
    relative = os.path.relpath(os.path.dirname(path), root)
    return None if relative in (".", "") else relative.split(os.sep)[0]


def read_image(path):
    """uint8 (H, W, C) with C in {1, 3, 4}; MediaError if undecodable."""
    import tensorflow as tf

    try:
        with open(path, "rb") as f:
            data = f.read()
        image = tf.io.decode_image(data, expand_animations=False).numpy()
    except Exception as error:  # noqa: BLE001 - any decoder failure is a skip
        raise MediaError(f"{path}: cannot decode image ({type(error).__name__})") from None
    if image.ndim != 3 or min(image.shape[:2]) < 1:
        raise MediaError(f"{path}: image has shape {image.shape}")
    return image


def decode_image_bytes(data):
    """Encoded PNG/JPEG/GIF/BMP bytes -> uint8 (H, W, C); MediaError if undecodable."""
    import tensorflow as tf

    try:
        image = tf.io.decode_image(data, expand_animations=False).numpy()
    except Exception as error:  # noqa: BLE001
        raise MediaError(f"upload: cannot decode image ({type(error).__name__})") from None
    return image


def resample(waveform, rate, target):
    """Linear-interpolation resampling of (samples,) float32 from `rate` to `target` Hz."""
    if rate == target or len(waveform) == 0:
        return waveform.astype(np.float32)
    count = int(round(len(waveform) * target / rate))
    positions = np.arange(count) * (rate / target)
    return np.interp(positions, np.arange(len(waveform)), waveform).astype(np.float32)


def _read_wav(path):
    with wave.open(path, "rb") as f:
        channels, width, rate, count = f.getnchannels(), f.getsampwidth(), f.getframerate(), f.getnframes()
        data = f.readframes(count)
    if width == 1:
        samples = (np.frombuffer(data, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        samples = np.frombuffer(data, "<i2").astype(np.float32) / 32768.0
    elif width == 3:
        raw = np.frombuffer(data, np.uint8).reshape(-1, 3)
        ints = (raw[:, 0].astype(np.int32) | (raw[:, 1].astype(np.int32) << 8) | (raw[:, 2].astype(np.int32) << 16))
        samples = (np.where(ints >= 1 << 23, ints - (1 << 24), ints)).astype(np.float32) / float(1 << 23)
    elif width == 4:
        samples = np.frombuffer(data, "<i4").astype(np.float32) / float(1 << 31)
    else:
        raise MediaError(f"{path}: unsupported WAV sample width {width}")
    return samples.reshape(-1, channels).mean(axis=1), rate


def _read_av_audio(source, target):
    import av

    with av.open(source) as container:
        if not container.streams.audio:
            raise MediaError(f"{source}: no audio stream")
        resampler = av.AudioResampler(format="flt", layout="mono", rate=target)
        chunks = []
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    return np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)


def read_audio(path, rate):
    """Mono float32 (samples,) at `rate` Hz; MediaError if undecodable or empty."""
    try:
        if path.lower().endswith(".wav"):
            try:
                samples, file_rate = _read_wav(path)
                samples = resample(samples, file_rate, rate)
            except wave.Error:  # float WAV and other codecs: PyAV reads them
                samples = _read_av_audio(path, rate)
        else:
            samples = _read_av_audio(path, rate)
    except MediaError:
        raise
    except Exception as error:  # noqa: BLE001
        raise MediaError(f"{path}: cannot decode audio ({type(error).__name__}: {error})") from None
    if samples.size == 0:
        raise MediaError(f"{path}: no audio samples")
    return samples


def windows(duration, clip_seconds):
    """[(start, end)] seconds covering `duration` every `clip_seconds` (one window if None)."""
    if not clip_seconds or duration <= clip_seconds:
        return [(0.0, float(duration))]
    starts = np.arange(0.0, duration, clip_seconds)
    return [(float(s), float(min(s + clip_seconds, duration))) for s in starts if duration - s > 0.25 * clip_seconds]


def _shrink(frame):
    h, w = frame.height, frame.width
    scale = min(1.0, MAX_VIDEO_SIDE / max(h, w))
    if scale < 1.0:
        return frame.to_ndarray(format="rgb24", width=max(1, int(w * scale)), height=max(1, int(h * scale)))
    return frame.to_ndarray(format="rgb24")


def read_video(path):
    """All frames uint8 (N, H, W, 3) (longer side <= 256) and their times (N,) in seconds."""
    import av

    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise MediaError(f"{path}: no video stream")
            stream = container.streams.video[0]
            frames, times = [], []
            for frame in container.decode(stream):
                frames.append(_shrink(frame))
                times.append(float(frame.time) if frame.time is not None else len(times) / 25.0)
    except MediaError:
        raise
    except Exception as error:  # noqa: BLE001
        raise MediaError(f"{path}: cannot decode video ({type(error).__name__}: {error})") from None
    if not frames:
        raise MediaError(f"{path}: no video frames")
    return np.stack(frames), np.asarray(times, np.float64)


def video_clips(path, clip_seconds, frames_per_clip):
    """[(start, end, float32 (T, H, W, 3) in [0, 1])] windows of a video file."""
    frames, times = read_video(path)
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.1
    duration = float(times[-1] - times[0] + step)
    clips = []
    for start, end in windows(duration, clip_seconds):
        inside = np.flatnonzero((times - times[0] >= start) & (times - times[0] < end))
        if len(inside) == 0:
            continue
        pick = inside[np.linspace(0, len(inside) - 1, frames_per_clip).round().astype(int)]
        clips.append((start, end, frames[pick].astype(np.float32) / 255.0))
    return clips


def audio_clips(waveform, rate, clip_seconds):
    """[(start, end, float32 (samples,))] windows of a waveform."""
    duration = len(waveform) / rate
    return [(s, e, waveform[int(s * rate):max(int(e * rate), int(s * rate) + 1)])
            for s, e in windows(duration, clip_seconds)]
