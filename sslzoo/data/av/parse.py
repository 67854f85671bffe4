"""Parses a serialized DMVR SequenceExample into dense tensors (inside tf.data)."""
import tensorflow as tf

from sslzoo.data.av import keys
from sslzoo.data.image_bytes import whole_jpeg


def parse_clip(serialized, extra_labels=None, name=None):
    """Serialized SequenceExample -> dict of dense tensors.

    A record that is not a SequenceExample, has no frames, or holds a frame that is
    not a whole JPEG fails with an error naming the record (`name`).

    Args:
      serialized: scalar tf.string.
      extra_labels: {name: context key} of extra int64 context features.
      name: scalar string naming the record in error messages, e.g. "<shard>:<index>".
    Returns:
      dict with
        jpegs          (N,) string, one JPEG per stored frame
        audio          (M,) float32 waveform (M = 0 when the clip has none)
        captions       (C,) string
        caption_start  (C,) int64 µs; caption_end likewise (the clip's span when absent)
        clip_start     () int64 µs; clip_end likewise
        label          () int64, the first `clip/label/index` or -1 when none
        labels         (L,) int64, every `clip/label/index` (multi-label sets)
        and each extra label name -> () int64 (first value or -1).
    """
    extra_labels = dict(extra_labels or {})
    context_spec = {
        keys.CAPTION: tf.io.VarLenFeature(tf.string),
        keys.CAPTION_START: tf.io.VarLenFeature(tf.int64),
        keys.CAPTION_END: tf.io.VarLenFeature(tf.int64),
        keys.LABEL_INDEX: tf.io.VarLenFeature(tf.int64),
        keys.CLIP_START: tf.io.FixedLenFeature([], tf.int64, default_value=0),
        keys.CLIP_END: tf.io.FixedLenFeature([], tf.int64, default_value=0),
    }
    for key in extra_labels.values():
        context_spec[key] = tf.io.VarLenFeature(tf.int64)
    sequence_spec = {
        keys.IMAGE: tf.io.FixedLenSequenceFeature([], tf.string),
        keys.AUDIO: tf.io.VarLenFeature(tf.float32),
    }
    context, sequences = tf.io.parse_single_sequence_example(serialized, context_spec, sequence_spec,
                                                             example_name=name)
    name = "<unknown>" if name is None else name
    jpegs = sequences[keys.IMAGE]
    checks = [
        tf.debugging.Assert(tf.size(jpegs) > 0, ["DMVR record", name, f"has no frames: expected one JPEG per "
                                                 f"frame in the feature list {keys.IMAGE}"]),
        tf.debugging.Assert(tf.reduce_all(whole_jpeg(jpegs)),
                            ["DMVR record", name, f"has a frame in {keys.IMAGE} that is not a whole JPEG "
                             "(expected JPEG bytes from the FF D8 FF start to the FF D9 end marker)"]),
    ]
    with tf.control_dependencies(checks):
        jpegs = tf.identity(jpegs)

    def dense(key, default):
        return tf.sparse.to_dense(context[key], default_value=default)

    def first_or_minus_one(key):
        values = dense(key, 0)
        return tf.cond(tf.size(values) > 0, lambda: values[0], lambda: tf.constant(-1, tf.int64))

    captions = dense(keys.CAPTION, "")
    clip_start, clip_end = context[keys.CLIP_START], context[keys.CLIP_END]
    num_captions = tf.size(captions)
    cap_start, cap_end = dense(keys.CAPTION_START, 0), dense(keys.CAPTION_END, 0)
    timed = tf.logical_and(tf.equal(tf.size(cap_start), num_captions), tf.equal(tf.size(cap_end), num_captions))
    cap_start = tf.cond(timed, lambda: cap_start, lambda: tf.fill([num_captions], clip_start))
    cap_end = tf.cond(timed, lambda: cap_end, lambda: tf.fill([num_captions], clip_end))
    audio = tf.reshape(tf.sparse.to_dense(sequences[keys.AUDIO]), [-1])
    parsed = {
        "jpegs": jpegs,
        "audio": audio,
        "captions": captions,
        "caption_start": cap_start,
        "caption_end": cap_end,
        "clip_start": clip_start,
        "clip_end": clip_end,
        "label": first_or_minus_one(keys.LABEL_INDEX),
        "labels": dense(keys.LABEL_INDEX, 0),
    }
    for name, key in extra_labels.items():
        parsed[name] = first_or_minus_one(key)
    return parsed
