"""Embedding media files in batches: files -> metadata records + vectors per joint space.

Each image is one item; each video and audio file is split into clips of
`clip_seconds` (one item per clip, with its start/end). An item goes through the
encoder signature of its modality; a video through an encoder without a `video`
signature is embedded by its clip's middle frame through `image`. Files that
cannot be decoded, or whose modality the encoder lacks, are skipped and listed.
"""
import os

import numpy as np

from sslzoo.search import media as media_lib

DEFAULT_BATCH = 64


class Embedded:
    """The output of `embed_media`.

    Attributes:
      records: list of metadata dicts (path, media, start, end, label, caption, root).
      rows: {space: int64 (M,) indices into `records`}.
      vectors: {space: float32 (M, D) unit vectors, aligned with rows[space]}.
      skipped: list of (path, reason).
    """

    def __init__(self):
        self.records, self.skipped = [], []
        self._rows, self._vectors = {}, {}

    def put(self, record_rows, embedded):
        for space, vectors in embedded.items():
            self._rows.setdefault(space, []).append(np.asarray(record_rows, np.int64))
            self._vectors.setdefault(space, []).append(vectors)

    @property
    def rows(self):
        return {s: np.concatenate(parts) for s, parts in self._rows.items()}

    @property
    def vectors(self):
        return {s: np.concatenate(parts).astype(np.float32) for s, parts in self._vectors.items()}


class _Batcher:
    """Collects inputs per modality and embeds a batch when it is full."""

    def __init__(self, encoder, out, batch_size):
        self.encoder, self.out, self.batch_size = encoder, out, batch_size
        self.pending = {}

    def push(self, modality, record, data):
        self.out.records.append(record)
        rows, inputs = self.pending.setdefault(modality, ([], []))
        rows.append(len(self.out.records) - 1)
        inputs.append(data)
        if len(inputs) >= self.batch_size:
            self.flush(modality)

    def flush(self, modality=None):
        for name in [modality] if modality else list(self.pending):
            rows, inputs = self.pending.pop(name, ([], []))
            if not inputs:
                continue
            if name == "image":
                embedded = self.encoder.embed("image", inputs)
            elif name == "audio":
                length = max(len(w) for w in inputs)
                embedded = self.encoder.embed("audio", np.stack([np.pad(w, (0, length - len(w))) for w in inputs]))
            else:
                embedded = self.encoder.embed(name, _stack_video(inputs))
            self.out.put(rows, embedded)


def _stack_video(clips):
    """Clips (T, H_i, W_i, 3) -> (B, T, H, W, 3) at the first clip's size (resized if needed)."""
    import tensorflow as tf

    height, width = clips[0].shape[1:3]
    same = [c if c.shape[1:3] == (height, width) else tf.image.resize(c, (height, width)).numpy() for c in clips]
    return np.stack(same)


def _record(path, kind, root, start=None, end=None, label=None, caption=None):
    return {"path": path, "media": kind, "root": root, "start": start, "end": end,
            "label": label if label is not None else media_lib.label_of(path, root), "caption": caption}


def _add_file(batcher, encoder, path, kind, root, clip_seconds):
    modalities = encoder.modalities
    if kind == "image":
        if "image" not in modalities:
            raise media_lib.MediaError(f"{path}: the encoder has no image signature")
        batcher.push("image", _record(path, kind, root), media_lib.read_image(path))
    elif kind == "audio":
        if "audio" not in modalities:
            raise media_lib.MediaError(f"{path}: the encoder has no audio signature")
        waveform = media_lib.read_audio(path, encoder.sample_rate)
        for start, end, piece in media_lib.audio_clips(waveform, encoder.sample_rate, clip_seconds):
            batcher.push("audio", _record(path, kind, root, start, end), piece)
    elif kind == "video":
        if "video" not in modalities and "image" not in modalities:
            raise media_lib.MediaError(f"{path}: the encoder has neither a video nor an image signature")
        for start, end, frames in media_lib.video_clips(path, clip_seconds, encoder.frames):
            record = _record(path, kind, root, start, end)
            if "video" in modalities:
                batcher.push("video", record, frames)
            else:
                batcher.push("image", record, (frames[len(frames) // 2] * 255).round().astype(np.uint8))
    else:
        _add_shard(batcher, encoder, path, root)


def _add_shard(batcher, encoder, path, root):
    """DMVR TFRecord shard: one item per clip, through `video` (else its middle frame through
    `image`); metadata from the clip's context (video/filename, start/end, label text, caption)."""
    import tensorflow as tf

    try:
        from sslzoo.data.av import example_to_clip
    except ImportError:
        raise media_lib.MediaError(f"{path}: DMVR shards need sslzoo.data.av, which this sslzoo lacks") from None
    modality = "video" if "video" in encoder.modalities else "image"
    if modality not in encoder.modalities:
        raise media_lib.MediaError(f"{path}: the encoder has neither a video nor an image signature")
    number = -1
    try:
        for number, serialized in enumerate(tf.data.TFRecordDataset(path).as_numpy_iterator()):
            clip = example_to_clip(serialized)
            jpegs = clip["frames"]
            if not jpegs:
                continue
            if modality == "video":
                pick = np.linspace(0, len(jpegs) - 1, encoder.frames).round().astype(int)
                data = np.stack([tf.io.decode_jpeg(jpegs[i], channels=3).numpy() for i in pick]) / np.float32(255)
            else:
                data = tf.io.decode_jpeg(jpegs[len(jpegs) // 2], channels=3).numpy()
            caption = clip["captions"][0] if clip["captions"] else None
            label = clip["label_text"][0] if clip["label_text"] else (str(clip["label"][0]) if clip["label"] else None)
            name = clip["filename"] or f"{os.path.basename(path)}#{number}"
            record = _record(f"{path}#{number}", "clip", root, clip["start"], clip["end"], label, caption)
            record["source"] = name
            batcher.push(modality, record, data.astype(np.float32) if modality == "video" else data)
    except (tf.errors.OpError, ValueError) as error:
        raise media_lib.MediaError(f"{path}: unreadable shard ({type(error).__name__})") from None
    if number < 0:
        raise media_lib.MediaError(f"{path}: no records in the shard")


def embed_media(encoder, sources, clip_seconds=None, batch_size=DEFAULT_BATCH, progress=False):
    """Decodes and embeds every media file under `sources`.

    Args:
      encoder: `sslzoo.search.encoder.Encoder`.
      sources: files or folders (images, audio, video, DMVR shards).
      clip_seconds: window length for video/audio clips (None: one clip per file).
      batch_size: items per encoder call.
      progress: show a tqdm progress bar over files.
    Returns:
      `Embedded` (records, rows and vectors per space, skipped files with reasons).
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive int, got {batch_size!r}")
    if clip_seconds is not None and not clip_seconds > 0:
        raise ValueError(f"`clip_seconds` must be positive or None, got {clip_seconds!r}")
    files = media_lib.list_media(sources)
    out = Embedded()
    batcher = _Batcher(encoder, out, batch_size)
    iterator = files
    if progress:
        from tqdm import tqdm

        iterator = tqdm(files, desc="embedding", unit="file")
    for path, kind, root in iterator:
        try:
            _add_file(batcher, encoder, path, kind, root, clip_seconds)
        except media_lib.MediaError as error:
            out.skipped.append((path, str(error).split(": ", 1)[-1]))
    batcher.flush()
    return out


def relative_root(path, roots):
    """The indexed root that contains `path`, or None (used to confine the server's files)."""
    path = os.path.realpath(path)
    for root in roots:
        root = os.path.realpath(root)
        if os.path.commonpath([path, root]) == root:
            return root
    return None
