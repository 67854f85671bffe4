"""The pre-training input pipeline: images -> shuffle -> batch -> augment -> prefetch."""
import inspect

import numpy as np
import tensorflow as tf

from sslzoo.augment import views


# More passes than any run makes: `endless_passes` is endless in practice.
MAX_PASSES = 2**62


def pass_seed(seed, index):
    """The seed of pass `index` (int64 scalar tensor), a stateless function of (`seed`, `index`)."""
    pair = tf.stack([tf.cast(seed, tf.int64), tf.cast(index, tf.int64)])
    return tf.random.stateless_uniform([], seed=pair, minval=None, maxval=None, dtype=tf.int64)


def permuted_batches(count, batch_size, pass_seed, drop_remainder=True):
    """One pass of index batches: int64 (B,) slices of a permutation of range(`count`) drawn from `pass_seed`.

    The permutation is stateless (`stateless_shuffle`): no shuffle buffer or seed
    generator, so a checkpointed iterator holds only its place in the pass.
    """
    order = tf.random.experimental.stateless_shuffle(tf.range(count, dtype=tf.int64),
                                                     seed=tf.stack([tf.cast(pass_seed, tf.int64), tf.constant(0, tf.int64)]))
    return tf.data.Dataset.from_tensor_slices(order).batch(batch_size, drop_remainder=drop_remainder)


def endless_passes(make_pass, seed):
    """One pass over the data after another: `make_pass(pass_seed(seed, p))` for p = 0, 1, ...

    Use it instead of `make_pass(seed).repeat()` over a `shuffle(...,
    reshuffle_each_iteration=True)`: here each pass's order and draws are a
    stateless function of (seed, p), and a checkpointed iterator (`sslzoo.backup`)
    holds the whole position (p and the place in the pass). With TF 2.21's
    reshuffling, a pass's seeds come from a seed generator the dataset shares
    across passes, and an iterator checkpointed while a buffer had read into the
    next pass (a race with prefetching) restored that pass in another order
    (measured: the same checkpoint restored either way from run to run).

    Args:
      make_pass: int64 scalar tensor seed -> `tf.data.Dataset` of one pass, drawn
        from that seed statelessly (`permuted_batches`; a `shuffle` op's seed
        generator cannot be checkpointed inside a pass).
      seed: int, the run's seed.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"`seed` must be an int, got {seed!r}")
    return tf.data.Dataset.range(MAX_PASSES).flat_map(lambda index: make_pass(pass_seed(seed, index)))


def pretrain_dataset(images, batch_size, augment=None, shuffle_buffer=None, seed=0, drop_remainder=True,
                     endless=False):
    """Builds the tf.data pipeline that feeds an objective's `fit`.

    One pass over the data is one Keras epoch (no `repeat`), unless `endless`.
    Augmentation runs on whole batches, after batching, in parallel.

    Args:
      images: uint8/float numpy (N, H, W, C), or a tf.data.Dataset of images or
        of (image, label) pairs (labels are dropped).
      batch_size: global batch size B.
      augment: callable on a batch (B, H, W, C) -> the objective's input, e.g.
        `SimCLRAugment(32)` returning (view_1, view_2); None yields raw batches.
      shuffle_buffer: shuffle buffer size; None shuffles the whole array
        (numpy input) or 10 * batch_size (dataset input).
      seed: shuffle seed; the order differs every epoch but is reproducible. With
        an int seed and an `augment` that takes `seed=` (SimCLRAugment, MultiCrop),
        each batch is augmented with `views.batch_seed(seed, its element indices)`:
        the same views for the same batch in every run, resumed or not.
      drop_remainder: drop the last partial batch (needed for cross-replica losses).
      endless: one pass after another (`endless_passes`; needs an int `seed`): what
        a resumable run iterates.
    Returns:
      tf.data.Dataset of augmented batches.
    """
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be positive, got {batch_size}")
    keyed = augment is not None and seed is not None and _takes_seed(augment)
    if isinstance(images, tf.data.Dataset):
        dataset = images
        if isinstance(dataset.element_spec, tuple):  # (image, label, ...) -> image
            dataset = dataset.map(lambda image, *_: image)
        count = int(dataset.cardinality())
        if keyed:
            dataset = dataset.enumerate().map(lambda index, image: (image, index))
    else:
        images = np.asarray(images)
        if images.ndim != 4:
            raise ValueError(f"`images` must be (N, H, W, C), got shape {images.shape}")
        dataset = tf.data.Dataset.from_tensor_slices((images, np.arange(len(images), dtype=np.int64)) if keyed
                                                     else images)
        count = len(images)
    if count >= 0 and batch_size > count:
        raise ValueError(f"batch_size {batch_size} is larger than the dataset ({count} images)")
    if shuffle_buffer is None:
        shuffle_buffer = count if count > 0 else 10 * batch_size

    def augmented(batches, pass_seed):
        if keyed:
            return batches.map(lambda batch, keys: augment(batch, seed=views.batch_seed(pass_seed, keys)),
                               num_parallel_calls=tf.data.AUTOTUNE)
        if augment is not None:
            return batches.map(augment, num_parallel_calls=tf.data.AUTOTUNE)
        return batches

    if endless:
        if isinstance(images, tf.data.Dataset) or shuffle_buffer < count:
            raise ValueError("`endless` needs numpy `images` shuffled whole (shuffle_buffer None or >= N)")
        source = tf.constant(images)  # held once; every pass gathers from it

        def one_pass(pass_seed):
            batches = permuted_batches(count, batch_size, pass_seed, drop_remainder).map(
                lambda keys: (tf.gather(source, keys), keys))
            return augmented(batches if keyed else batches.map(lambda batch, keys: batch), pass_seed).prefetch(
                tf.data.AUTOTUNE)

        return endless_passes(one_pass, seed)
    batches = dataset.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    batches = batches.batch(batch_size, drop_remainder=drop_remainder)
    return augmented(batches, seed).prefetch(tf.data.AUTOTUNE)


def _takes_seed(augment):
    """True if `augment(batch, seed=...)` is accepted."""
    try:
        return "seed" in inspect.signature(augment).parameters
    except (TypeError, ValueError):
        return False
