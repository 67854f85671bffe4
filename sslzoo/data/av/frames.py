"""Frames in tf.data: decode only the sampled JPEGs, crop, resize, flip, colour jitter.

The same crop, flip and colour change apply to every frame of a clip, so motion is
preserved. All randomness is stateless, drawn from one per-clip seed of shape (2,).
"""
import tensorflow as tf


def _decode_crop(jpegs, window):
    """(T,) JPEG strings, window [y, x, h, w] -> uint8 (T, h, w, 3)."""
    return tf.map_fn(lambda jpeg: tf.io.decode_and_crop_jpeg(jpeg, window, channels=3), jpegs,
                     fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8))


def centre_window(height, width):
    """The largest centred square: [y, x, side, side] int32."""
    side = tf.minimum(height, width)
    return tf.stack([(height - side) // 2, (width - side) // 2, side, side])


def random_window(seed, height, width, area_range=(0.3, 1.0), aspect_ratio_range=(3 / 4, 4 / 3)):
    """A random resized crop's window [y, x, h, w] int32 (Inception-style)."""
    image_size = tf.stack([height, width, 3])
    begin, size, _ = tf.image.stateless_sample_distorted_bounding_box(
        image_size, bounding_boxes=tf.constant([[[0.0, 0.0, 1.0, 1.0]]]), seed=seed,
        min_object_covered=0.0, aspect_ratio_range=aspect_ratio_range, area_range=area_range,
        max_attempts=10, use_image_if_no_bounding_boxes=True)
    return tf.stack([begin[0], begin[1], size[0], size[1]])


def scale_jitter_window(seed, height, width, area_range=(0.3, 1.0)):
    """A random square [y, x, side, side]: side = short side * U(sqrt(area_min), sqrt(area_max))."""
    scale_seed, y_seed, x_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    short = tf.cast(tf.minimum(height, width), tf.float32)
    scale = tf.random.stateless_uniform([], scale_seed, area_range[0] ** 0.5, area_range[1] ** 0.5)
    side = tf.maximum(tf.cast(tf.round(short * scale), tf.int32), 1)
    y = tf.random.stateless_uniform([], y_seed, 0, height - side + 1, dtype=tf.int32)
    x = tf.random.stateless_uniform([], x_seed, 0, width - side + 1, dtype=tf.int32)
    return tf.stack([y, x, side, side])


CROPS = ("random_resized", "scale_jitter")


def color_jitter(frames, seed, strength, prob=0.8):
    """Brightness, contrast, saturation, hue with SimCLR's ranges for `strength`, prob `prob`.

    Args:
      frames: float32 (T, S, S, 3) in [0, 1]; one draw of factors for all frames.
    """
    seeds = tf.random.experimental.stateless_split(seed, 5)
    jittered = tf.image.stateless_random_brightness(frames, 0.8 * strength, seeds[0])
    jittered = tf.image.stateless_random_contrast(jittered, 1 - 0.8 * strength, 1 + 0.8 * strength, seeds[1])
    jittered = tf.image.stateless_random_saturation(jittered, 1 - 0.8 * strength, 1 + 0.8 * strength, seeds[2])
    jittered = tf.image.stateless_random_hue(jittered, min(0.2 * strength, 0.5), seeds[3])
    apply = tf.random.stateless_uniform([], seeds[4]) < prob
    return tf.clip_by_value(tf.where(apply, jittered, frames), 0.0, 1.0)


def process_frames(jpegs, image_size, seed=None, area_range=(0.3, 1.0), flip=True, jitter=0.4,
                   crop="random_resized"):
    """Sampled JPEG frames -> float32 (T, S, S, 3) in [0, 1].

    Args:
      jpegs: (T,) string, the frames already chosen by the temporal window.
      image_size: int S.
      seed: stateless seed (2,) for training (a random crop, flip with
        probability 1/2 when `flip`, colour jitter of strength `jitter` when > 0);
        None for evaluation (centre square crop, nothing random).
      crop: "random_resized" (Inception-style: area fraction in `area_range`,
        aspect 3/4..4/3) or "scale_jitter" (a square whose area is that fraction of
        the short side's square, at a random position).
    """
    if crop not in CROPS:
        raise ValueError(f"`crop` must be one of {CROPS}, got {crop!r}")
    shape = tf.io.extract_jpeg_shape(jpegs[0])
    height, width = shape[0], shape[1]
    if seed is None:
        window = centre_window(height, width)
    else:
        crop_seed, flip_seed, jitter_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
        if crop == "random_resized":
            window = random_window(crop_seed, height, width, area_range)
        else:
            window = scale_jitter_window(crop_seed, height, width, area_range)
    frames = tf.cast(_decode_crop(jpegs, window), tf.float32) / 255.0
    frames = tf.image.resize(frames, [image_size, image_size], method="bilinear", antialias=True)
    if seed is not None:
        if flip:
            frames = tf.where(tf.random.stateless_uniform([], flip_seed) < 0.5, tf.reverse(frames, [2]), frames)
        if jitter > 0:
            frames = color_jitter(frames, jitter_seed, jitter)
    frames = tf.clip_by_value(frames, 0.0, 1.0)
    return tf.ensure_shape(frames, [None, image_size, image_size, 3])
