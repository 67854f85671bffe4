"""Per-image coin flips, and applying an op to only the images that drew it."""
import tensorflow as tf


def draw(seed, batch_size, prob):
    """bool (B,): True with probability `prob` (float or (B,) tensor), stateless."""
    return tf.random.stateless_uniform([batch_size], seed) < prob


def apply_to_chosen(images, applied, fn, *per_image):
    """`fn` on the rows where `applied` is True, the others passed through.

    Only the chosen rows are gathered and transformed, so an op with probability
    p costs about p of a full pass (plus the gather and scatter).

    Args:
      images: (B, ...) tensor.
      applied: bool (B,).
      fn: callable(chosen_images, *chosen_per_image) -> same shape as its input.
      *per_image: (B,) tensors gathered alongside (e.g. each image's sigma).
    Returns:
      (B, ...) tensor.
    """
    chosen = tf.where(applied)  # (K, 1)

    def transform():
        index = chosen[:, 0]
        result = fn(tf.gather(images, index), *[tf.gather(values, index) for values in per_image])
        return tf.tensor_scatter_nd_update(images, chosen, result)

    return tf.cond(tf.size(chosen) > 0, transform, lambda: tf.identity(images))
