"""Small numerical pieces shared by the losses (float32 or float64, all stable)."""
import tensorflow as tf

# Added to logits that must take no part in a softmax: exp(-1e9 - max) is exactly 0
# in float32 and the result stays finite (no inf - inf), also under XLA.
EXCLUDED_LOGIT = -1e9



def excluded_where(condition, logits):
    """`logits` with EXCLUDED_LOGIT where `condition` (broadcast) is true, in the logits' dtype."""
    return tf.where(condition, tf.constant(EXCLUDED_LOGIT, logits.dtype), logits)


# Squared-norm floor of the L2 normalisation: a zero vector maps to zero, not NaN.
NORM_EPSILON = 1e-12


def l2_normalize(x):
    """Unit-length rows along the last axis; zero vectors stay zero (gradient finite)."""
    return tf.math.l2_normalize(x, axis=-1, epsilon=NORM_EPSILON)


def mean_cross_entropy(logits, labels):
    """Mean over rows of softmax cross-entropy.

    Args:
      logits: (B, C) float32 or float64.
      labels: (B,) int32, the index of each row's positive.
    Returns:
      scalar of the logits' dtype.
    """
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
