"""Where a clip's window lies: frame indices, the audio span, the nearest narrations."""
import tensorflow as tf


def frame_window(num_stored, num_frames, stride, seed=None):
    """Indices of `num_frames` frames `stride` apart inside `num_stored` stored frames.

    With `seed` (a stateless seed, shape (2,)) the window starts uniformly at random
    in [0, num_stored - span]; without, it is the middle one. A clip shorter than the
    span (`(num_frames - 1) * stride + 1`) starts at 0 and wraps around: it is padded
    by repetition, as DMVR does.

    Returns:
      (indices (num_frames,) int32, start () int32): start is the first index.
    """
    num_stored = tf.cast(num_stored, tf.int32)
    span = (num_frames - 1) * stride + 1
    room = tf.maximum(num_stored - span, 0)
    if seed is None:
        start = room // 2
    else:
        start = tf.random.stateless_uniform([], seed, 0, room + 1, dtype=tf.int32)
    indices = (start + tf.range(num_frames, dtype=tf.int32) * stride) % tf.maximum(num_stored, 1)
    return indices, start


def audio_window(audio, start_seconds, num_samples, sample_rate):
    """`num_samples` samples of `audio` from `start_seconds` on (padded by repetition).

    Args:
      audio: (M,) float32; M = 0 means no audio.
      start_seconds: () float, the window start relative to the clip start.
    Returns:
      (window (num_samples,) float32, mask () float32): zeros and 0 when M = 0.
    """
    length = tf.size(audio)
    first = tf.cast(tf.round(tf.cast(start_seconds, tf.float64) * sample_rate), tf.int32)
    safe_length = tf.maximum(length, 1)
    indices = (first + tf.range(num_samples, dtype=tf.int32)) % safe_length
    present = length > 0
    padded = tf.cond(present, lambda: audio, lambda: tf.zeros([1], tf.float32))
    window = tf.gather(padded, indices) * tf.cast(present, tf.float32)
    return window, tf.cast(present, tf.float32)


def nearest_captions(captions, caption_start, caption_end, window_start, window_end, num_captions):
    """The `num_captions` narrations nearest in time to [window_start, window_end].

    Distance is the gap between the narration's interval and the window (0 when they
    overlap); ties go to the narration whose centre is nearer the window's centre,
    then to the earlier one. Missing candidates are "" with mask 0.

    Args:
      captions: (C,) string; caption_start, caption_end: (C,) int64 µs.
      window_start, window_end: () int64 µs, in the same (source video) time.
    Returns:
      (text (num_captions,) string, mask (num_captions,) float32), nearest first.
    """
    starts = tf.cast(caption_start, tf.float64)
    ends = tf.cast(caption_end, tf.float64)
    lo = tf.cast(window_start, tf.float64)
    hi = tf.cast(window_end, tf.float64)
    gap = tf.maximum(tf.maximum(starts - hi, lo - ends), 0.0)
    centre = tf.abs((starts + ends) - (lo + hi)) / 2.0
    by_centre = tf.argsort(centre, stable=True)
    order = tf.gather(by_centre, tf.argsort(tf.gather(gap, by_centre), stable=True))
    chosen = tf.gather(captions, order[:num_captions])
    missing = num_captions - tf.size(chosen)
    text = tf.concat([chosen, tf.fill([missing], "")], axis=0)
    mask = tf.concat([tf.ones_like(chosen, tf.float32), tf.zeros([missing], tf.float32)], axis=0)
    return tf.ensure_shape(text, [num_captions]), tf.ensure_shape(mask, [num_captions])
