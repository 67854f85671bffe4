"""One clip <-> one DMVR `tf.train.SequenceExample` (no TensorFlow ops: safe in workers).

A clip is a dict (every key optional except `frames`):

  frames         uint8 (T, H, W, 3) array, or a sequence of T JPEG byte strings
  audio          float32 (N,) mono waveform in [-1, 1]; None or empty = no audio
  captions       sequence of K str narrations; empty = no text
  caption_start  K floats, seconds in the source video (default: the clip's start)
  caption_end    K floats, seconds in the source video (default: the clip's end)
  label          int or sequence of ints (multi-label); default none
  label_text     str or sequence of str, parallel to `label`
  filename       str, the source video or its id
  start, end     floats, seconds: the clip's span in the source video
                 (default 0 and T / 10)
  context        {key: list of int | float | str}: extra context features,
                 e.g. {"clip/direction/index": [2]} for AV-digits

Times are stored as int64 microseconds (see `sslzoo.data.av.keys`).
"""
import io

import numpy as np

from sslzoo.data.av import keys

_KNOWN = {"frames", "audio", "captions", "caption_start", "caption_end", "label", "label_text",
          "filename", "start", "end", "context"}


def encode_jpeg(frame, quality=90):
    """uint8 (H, W, 3) array -> JPEG bytes (Pillow, 4:2:0)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(frame, np.uint8)).save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _as_list(value):
    if value is None:
        return []
    if isinstance(value, (str, bytes, int, np.integer, float, np.floating)):
        return [value]
    return list(value)


def _microseconds(seconds):
    return [int(round(float(s) * keys.MICROSECONDS)) for s in seconds]


def _encoded_frames(frames, quality):
    if len(frames) and isinstance(frames[0], (bytes, bytearray)):
        return [bytes(f) for f in frames]
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError("clip `frames` must be uint8 (T, H, W, 3) or a list of JPEG bytes, "
                         f"got {frames.dtype} {frames.shape}")
    return [encode_jpeg(f, quality) for f in frames]


def clip_to_example(clip, jpeg_quality=90):
    """A clip dict (module docstring) -> `tf.train.SequenceExample` in the DMVR layout."""
    from tensorflow.core.example import example_pb2

    unknown = set(clip) - _KNOWN
    if unknown:
        raise ValueError(f"clip has unknown keys {sorted(unknown)}; expected some of {sorted(_KNOWN)}")
    if "frames" not in clip or len(clip["frames"]) == 0:
        raise ValueError("clip `frames` must hold at least one frame")
    frames = _encoded_frames(clip["frames"], jpeg_quality)
    captions = [c.encode("utf-8") if isinstance(c, str) else bytes(c) for c in _as_list(clip.get("captions"))]
    start = float(clip.get("start", 0.0))
    end = float(clip.get("end", start + len(frames) / 10.0))
    cap_start = _as_list(clip.get("caption_start")) or [start] * len(captions)
    cap_end = _as_list(clip.get("caption_end")) or [end] * len(captions)
    if not len(cap_start) == len(cap_end) == len(captions):
        raise ValueError(f"clip `caption_start` ({len(cap_start)}) and `caption_end` ({len(cap_end)}) "
                         f"must be parallel to `captions` ({len(captions)})")
    labels = [int(v) for v in _as_list(clip.get("label"))]
    label_text = [t.encode("utf-8") if isinstance(t, str) else bytes(t) for t in _as_list(clip.get("label_text"))]

    example = example_pb2.SequenceExample()
    context = example.context.feature
    context[keys.CAPTION].bytes_list.value.extend(captions)
    context[keys.CAPTION_START].int64_list.value.extend(_microseconds(cap_start))
    context[keys.CAPTION_END].int64_list.value.extend(_microseconds(cap_end))
    context[keys.LABEL_INDEX].int64_list.value.extend(labels)
    context[keys.LABEL_TEXT].bytes_list.value.extend(label_text)
    context[keys.FILENAME].bytes_list.value.append(str(clip.get("filename", "")).encode("utf-8"))
    context[keys.CLIP_START].int64_list.value.extend(_microseconds([start]))
    context[keys.CLIP_END].int64_list.value.extend(_microseconds([end]))
    for key, values in (clip.get("context") or {}).items():
        values = _as_list(values)
        if values and isinstance(values[0], (str, bytes)):
            context[key].bytes_list.value.extend(v.encode("utf-8") if isinstance(v, str) else v for v in values)
        elif values and isinstance(values[0], (float, np.floating)):
            context[key].float_list.value.extend(float(v) for v in values)
        else:
            context[key].int64_list.value.extend(int(v) for v in values)

    lists = example.feature_lists.feature_list
    for jpeg in frames:
        lists[keys.IMAGE].feature.add().bytes_list.value.append(jpeg)
    audio = clip.get("audio")
    if audio is not None and len(audio):
        audio = np.asarray(audio, np.float32).reshape(-1)
        lists[keys.AUDIO].feature.add().float_list.value.extend(audio.tolist())
    return example


def example_to_clip(serialized):
    """Serialized SequenceExample -> clip dict (JPEG bytes, times in seconds). For tools and tests."""
    from tensorflow.core.example import example_pb2

    example = example_pb2.SequenceExample.FromString(serialized)
    context = example.context.feature
    lists = example.feature_lists.feature_list

    def seconds(key):
        return [v / keys.MICROSECONDS for v in context[key].int64_list.value]

    audio = [v for f in lists[keys.AUDIO].feature for v in f.float_list.value]
    return {
        "frames": [f.bytes_list.value[0] for f in lists[keys.IMAGE].feature],
        "audio": np.asarray(audio, np.float32),
        "captions": [c.decode("utf-8") for c in context[keys.CAPTION].bytes_list.value],
        "caption_start": seconds(keys.CAPTION_START),
        "caption_end": seconds(keys.CAPTION_END),
        "label": list(context[keys.LABEL_INDEX].int64_list.value),
        "label_text": [t.decode("utf-8") for t in context[keys.LABEL_TEXT].bytes_list.value],
        "filename": b"".join(context[keys.FILENAME].bytes_list.value).decode("utf-8"),
        "start": (seconds(keys.CLIP_START) or [0.0])[0],
        "end": (seconds(keys.CLIP_END) or [0.0])[0],
    }
