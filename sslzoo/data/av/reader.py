"""`read_clips`: DMVR shards -> tf.data of synchronised video, audio and narration windows."""
import numpy as np
import tensorflow as tf

from sslzoo.data.av import keys
from sslzoo.data.av.frames import CROPS, process_frames
from sslzoo.data.av.parse import parse_clip
from sslzoo.data.av.windows import audio_window, frame_window, nearest_captions


def _files(file_pattern):
    patterns = [file_pattern] if isinstance(file_pattern, (str, bytes)) else list(file_pattern)
    files = sorted({f for p in patterns for f in tf.io.gfile.glob(str(p))})
    files = [f for f in files if ".tmp-" not in f]
    if not files:
        raise ValueError(f"`file_pattern` {file_pattern!r} matches no files")
    return files


def _shard_records(files):
    """(name, serialized) of every record of `files`, in order; name = "<file>:<record index>".

    A shard whose records do not reach its last byte (truncated, a bad length or checksum,
    not a TFRecord file, unreadable) fails with an error naming the file and where its
    records end, instead of TensorFlow's bare "truncated record at N".
    """
    sizes = [tf.io.gfile.stat(f).length for f in files]

    def records_of(file, size):
        # A read error ends the file (`ignore_errors`); the end marker then finds it short.
        records = tf.data.TFRecordDataset(file).ignore_errors().map(lambda r: (r, False))
        marked = records.concatenate(tf.data.Dataset.from_tensors((tf.constant(""), True)))

        def step(state, item):
            offset, index = state
            record, is_end = item
            whole = tf.logical_or(tf.logical_not(is_end), tf.equal(offset, size))
            check = tf.debugging.Assert(whole, [
                "DMVR shard", file, "is truncated or corrupt: its readable records end at byte", offset,
                "of", size, "(expected TFRecord framing up to the end of the file)"])
            with tf.control_dependencies([check]):
                # TFRecord framing: 8-byte length, 4-byte length CRC, data, 4-byte data CRC.
                length = tf.cast(tf.strings.length(record), tf.int64) + 16
            name = tf.strings.join([file, tf.strings.as_string(index)], separator=":")
            return (offset + length, index + 1), (name, record, is_end)

        scanned = marked.scan((tf.constant(0, tf.int64), tf.constant(0, tf.int64)), step)
        return scanned.filter(lambda name, record, is_end: tf.logical_not(is_end)).map(
            lambda name, record, is_end: (name, record))

    sources = tf.data.Dataset.from_tensor_slices((files, tf.constant(sizes, tf.int64)))
    return sources, records_of


def _positive(name, value):
    if int(value) != value or value < 1:
        raise ValueError(f"`{name}` must be a positive int, got {value!r}")
    return int(value)


def read_clips(file_pattern, *, num_frames, image_size, frame_stride=1, fps=10, audio_sample_rate=48000,
               audio_samples=None, num_captions=1, training=True, seed=None, shuffle_buffer=256,
               crop="random_resized", crop_area_range=(0.3, 1.0), flip=True, color_jitter=0.4, extra_labels=None, num_classes=None,
               num_parallel_calls=tf.data.AUTOTUNE):
    """Reads DMVR SequenceExample shards into unbatched clip dicts.

    Each element:
      video       float32 (T, S, S, 3) in [0, 1]: `num_frames` frames `frame_stride`
                  apart; a random window in training, the middle one in evaluation;
                  clips shorter than the window are padded by repetition.
      audio       float32 (A,): the same span of time (same start in seconds),
                  A = `audio_samples` or round(T * stride / fps * sample_rate).
      audio_mask  float32 (): 0 for a clip with no audio (then `audio` is zeros).
      text        string (K,): the K = `num_captions` narrations nearest in time to
                  the window (MIL-NCE candidates), nearest first; "" pads.
      text_mask   float32 (K,): 1 for a real narration, 0 for padding.
      label       int64 (): the first `clip/label/index`, -1 when none.
      labels      float32 (num_classes,): multi-hot of every label index (only
                  with `num_classes`, for multi-label sets such as AudioSet).
      and one int64 () per `extra_labels` entry.

    Training shuffles the files and the clips, takes a random crop (`crop`:
    "random_resized" or "scale_jitter", area fraction in `crop_area_range`), flips with probability 1/2 (`flip`) and jitters colour
    (`color_jitter` strength, 0 = off), the same for every frame of a clip. Evaluation
    keeps the file order and takes the centre square. With a `seed`, every random
    choice is stateless and the stream is the same on every run (a new draw each
    pass over a repeated dataset).

    Args:
      file_pattern: glob (or list of globs) of shard files, e.g. "dir/train-*-of-*".
      num_frames, image_size, frame_stride, fps: the window; `fps` is the rate the
        shards were written at (sslzoo-prepare: 10).
      audio_sample_rate: the rate the waveform was written at (sslzoo-prepare: 48000).
      audio_samples: window length in samples (default: the video window's span).
      num_captions: K narrations per clip.
      training: random window and augmentation, shuffled; False: deterministic.
      seed: int or None.
      shuffle_buffer: clips held for shuffling in training.
      extra_labels: {name: context key} of extra int64 labels, e.g.
        {"direction": "clip/direction/index"} for AV-digits.
      num_classes: adds the multi-hot `labels` (indices outside [0, num_classes)
        are dropped).
    Returns:
      An unbatched `tf.data.Dataset` of the dicts above.
    """
    num_frames = _positive("num_frames", num_frames)
    image_size = _positive("image_size", image_size)
    frame_stride = _positive("frame_stride", frame_stride)
    num_captions = _positive("num_captions", num_captions)
    if crop not in CROPS:
        raise ValueError(f"`crop` must be one of {CROPS}, got {crop!r}")
    if not 0 < crop_area_range[0] <= crop_area_range[1] <= 1:
        raise ValueError(f"`crop_area_range` must satisfy 0 < low <= high <= 1, got {crop_area_range}")
    if fps <= 0 or audio_sample_rate <= 0:
        raise ValueError(f"`fps` and `audio_sample_rate` must be > 0, got {fps}, {audio_sample_rate}")
    if audio_samples is None:
        audio_samples = int(round(num_frames * frame_stride / fps * audio_sample_rate))
    audio_samples = _positive("audio_samples", audio_samples)
    files = _files(file_pattern)
    if seed is None:
        seed = int(np.random.randint(0, 2**31 - 1))

    records, records_of = _shard_records(files)
    if training:
        records = records.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    records = records.interleave(records_of, cycle_length=min(len(files), 8),
                                 num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if training and shuffle_buffer > 1:
        records = records.shuffle(shuffle_buffer, seed=seed + 1, reshuffle_each_iteration=True)
    seeds = tf.data.Dataset.random(seed=seed + 2, rerandomize_each_iteration=True).batch(2)
    window_us = num_frames * frame_stride / fps * keys.MICROSECONDS

    def process(record, clip_seed):
        name, serialized = record
        clip = parse_clip(serialized, extra_labels, name=name)
        if training:
            time_seed, frame_seed = tf.unstack(tf.random.experimental.stateless_split(clip_seed, 2))
        else:
            time_seed = frame_seed = None
        indices, start = frame_window(tf.shape(clip["jpegs"])[0], num_frames, frame_stride, time_seed)
        video = process_frames(tf.gather(clip["jpegs"], indices), image_size, frame_seed,
                               area_range=crop_area_range, flip=flip, jitter=color_jitter, crop=crop)
        start_seconds = tf.cast(start, tf.float64) / fps
        audio, audio_mask = audio_window(clip["audio"], start_seconds, audio_samples, audio_sample_rate)
        window_start = clip["clip_start"] + tf.cast(tf.round(start_seconds * keys.MICROSECONDS), tf.int64)
        window_end = window_start + int(round(window_us))
        text, text_mask = nearest_captions(clip["captions"], clip["caption_start"], clip["caption_end"],
                                           window_start, window_end, num_captions)
        element = {
            "video": tf.ensure_shape(video, [num_frames, image_size, image_size, 3]),
            "audio": tf.ensure_shape(audio, [audio_samples]),
            "audio_mask": audio_mask,
            "text": text,
            "text_mask": text_mask,
            "label": clip["label"],
        }
        if num_classes:
            known = tf.boolean_mask(clip["labels"], (clip["labels"] >= 0) & (clip["labels"] < num_classes))
            hot = tf.reduce_sum(tf.one_hot(known, num_classes, dtype=tf.float32), axis=0)
            element["labels"] = tf.ensure_shape(tf.minimum(hot, 1.0), [num_classes])
        for name in extra_labels or {}:
            element[name] = clip[name]
        return element

    return tf.data.Dataset.zip((records, seeds)).map(process, num_parallel_calls=num_parallel_calls,
                                                     deterministic=True)
