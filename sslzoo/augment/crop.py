"""Random resized crop (Inception-style), vectorised over a batch.

Boxes are drawn per image with `tf.image.stateless_sample_distorted_bounding_box`
(area fraction and aspect ratio within the asked ranges, the whole image after
`max_attempts` failures); only these few scalars are drawn per image. All crops
of the batch are then resampled in one `tf.image.crop_and_resize` call, which
also applies horizontal flips for free: a box whose x-coordinates are swapped
is read right to left.
"""
import tensorflow as tf


def check_range(value, name, low_bound, high_bound=None):
    """(low, high) as floats with low_bound < low <= high [<= high_bound], else ValueError."""
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a pair (low, high), got {value!r}") from None
    if not low_bound < low <= high or (high_bound is not None and high > high_bound):
        bound = f"{low_bound} < low <= high" + (f" <= {high_bound}" if high_bound is not None else "")
        raise ValueError(f"`{name}` must satisfy {bound}, got {tuple(value)}")
    return low, high


def sample_crop_boxes(seed, batch_size, image_height, image_width, area_range=(0.08, 1.0),
                      aspect_ratio_range=(3 / 4, 4 / 3), max_attempts=100):
    """Draws one crop box per image.

    Args:
      seed: int tensor (2,), stateless seed.
      batch_size: int or scalar int tensor B.
      image_height, image_width: ints or scalar int tensors, the source size.
      area_range: (low, high) fraction of the image area, 0 < low <= high <= 1.
      aspect_ratio_range: (low, high) of width / height, 0 < low <= high.
      max_attempts: tries per image before falling back to the whole image.
    Returns:
      float32 (B, 4) boxes `[top, left, bottom, right]` as fractions of the
      image height / width (pixel edges, so `(bottom - top) * H` is the crop
      height in pixels).
    """
    area = check_range(area_range, "area_range", 0.0, 1.0)
    aspect = check_range(aspect_ratio_range, "aspect_ratio_range", 0.0)
    size = tf.stack([tf.cast(image_height, tf.int32), tf.cast(image_width, tf.int32), 1])
    per_image_seeds = tf.random.stateless_uniform([batch_size, 2], seed, minval=None, maxval=None,
                                                  dtype=tf.int64)
    no_boxes = tf.zeros([1, 0, 4], tf.float32)

    def one_box(image_seed):
        begin, extent, _ = tf.image.stateless_sample_distorted_bounding_box(
            size, no_boxes, image_seed, min_object_covered=0.0, aspect_ratio_range=aspect,
            area_range=area, max_attempts=max_attempts, use_image_if_no_bounding_boxes=True)
        top_left = tf.cast(begin[:2], tf.float32)
        bottom_right = tf.cast(begin[:2] + extent[:2], tf.float32)
        scale = tf.cast(size[:2], tf.float32)
        return tf.concat([top_left / scale, bottom_right / scale], axis=0)

    parallel = None if tf.executing_eagerly() else 16  # eager map_fn runs one at a time anyway
    return tf.map_fn(one_box, per_image_seeds, fn_output_signature=tf.float32,
                     parallel_iterations=parallel)


def crop_and_resize_boxes(images, boxes, box_indices, size, flip=None):
    """Resamples `boxes` of `images` to size x size (bilinear, half-pixel centres).

    Args:
      images: (B, H, W, C) uint8 or float; values keep their scale.
      boxes: float32 (N, 4) `[top, left, bottom, right]` fractions (pixel edges).
      box_indices: int32 (N,), the image each box is cut from.
      size: int S, the output side.
      flip: optional bool (N,): mirror those crops left-right.
    Returns:
      float32 (N, S, S, C).
    """
    shape = tf.shape(images)
    height, width = tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
    top, left, bottom, right = tf.unstack(boxes, axis=1)

    def centres(start, stop, extent):
        # Coordinates of the first and last output pixel centres in source pixels,
        # clamped inside the image, then in crop_and_resize's units (extent - 1).
        step = (stop - start) * extent / size
        first = tf.clip_by_value(start * extent + 0.5 * step - 0.5, 0.0, extent - 1.0)
        last = tf.clip_by_value(start * extent + (size - 0.5) * step - 0.5, 0.0, extent - 1.0)
        denominator = tf.maximum(extent - 1.0, 1.0)
        return first / denominator, last / denominator

    y1, y2 = centres(top, bottom, height)
    x1, x2 = centres(left, right, width)
    if flip is not None:
        x1, x2 = tf.where(flip, x2, x1), tf.where(flip, x1, x2)
    resample_boxes = tf.stack([y1, x1, y2, x2], axis=1)
    return tf.image.crop_and_resize(images, resample_boxes, box_indices, (size, size))


def random_resized_crop(images, size, seed, area_range=(0.08, 1.0), aspect_ratio_range=(3 / 4, 4 / 3),
                        flip_prob=0.0, num_crops=1):
    """`num_crops` random resized crops of every image, optionally flipped.

    Args:
      images: (B, H, W, C) uint8 or float; values keep their scale.
      size: int S, the output side.
      seed: int tensor (2,), stateless seed.
      area_range, aspect_ratio_range: see `sample_crop_boxes`.
      flip_prob: chance that each crop is mirrored left-right.
      num_crops: crops per image.
    Returns:
      float32 (num_crops * B, S, S, C), crop-major: rows k*B .. (k+1)*B - 1
      are the k-th crop of images 0 .. B-1.
    """
    if int(size) < 1:
        raise ValueError(f"`size` must be a positive int, got {size}")
    if not 0.0 <= float(flip_prob) <= 1.0:
        raise ValueError(f"`flip_prob` must be in [0, 1], got {flip_prob}")
    images = tf.convert_to_tensor(images)
    if images.shape.rank != 4:
        raise ValueError(f"`images` must be rank 4 (B, H, W, C), got shape {images.shape}")
    shape = tf.shape(images)
    rows = num_crops * shape[0]
    box_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
    boxes = sample_crop_boxes(box_seed, rows, shape[1], shape[2], area_range, aspect_ratio_range)
    flip = tf.random.stateless_uniform([rows], flip_seed) < flip_prob
    box_indices = tf.tile(tf.range(shape[0]), [num_crops])
    return crop_and_resize_boxes(images, boxes, box_indices, int(size), flip)
