"""The pre-training input pipeline: images -> shuffle -> batch -> augment -> prefetch."""
import numpy as np
import tensorflow as tf


def pretrain_dataset(images, batch_size, augment=None, shuffle_buffer=None, seed=0, drop_remainder=True):
    """Builds the tf.data pipeline that feeds an objective's `fit`.

    One pass over the data is one Keras epoch (no `repeat`). Augmentation runs
    on whole batches, after batching, in parallel.

    Args:
      images: uint8/float numpy (N, H, W, C), or a tf.data.Dataset of images or
        of (image, label) pairs (labels are dropped).
      batch_size: global batch size B.
      augment: callable on a batch (B, H, W, C) -> the objective's input, e.g.
        `SimCLRAugment(32)` returning (view_1, view_2); None yields raw batches.
      shuffle_buffer: shuffle buffer size; None shuffles the whole array
        (numpy input) or 10 * batch_size (dataset input).
      seed: shuffle seed; the order differs every epoch but is reproducible.
      drop_remainder: drop the last partial batch (needed for cross-replica losses).
    Returns:
      tf.data.Dataset of augmented batches.
    """
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be positive, got {batch_size}")
    if isinstance(images, tf.data.Dataset):
        dataset = images
        if isinstance(dataset.element_spec, tuple):  # (image, label, ...) -> image
            dataset = dataset.map(lambda image, *_: image)
        count = int(dataset.cardinality())
    else:
        images = np.asarray(images)
        if images.ndim != 4:
            raise ValueError(f"`images` must be (N, H, W, C), got shape {images.shape}")
        dataset = tf.data.Dataset.from_tensor_slices(images)
        count = len(images)
    if count >= 0 and batch_size > count:
        raise ValueError(f"batch_size {batch_size} is larger than the dataset ({count} images)")
    if shuffle_buffer is None:
        shuffle_buffer = count if count > 0 else 10 * batch_size
    dataset = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    if augment is not None:
        dataset = dataset.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)
