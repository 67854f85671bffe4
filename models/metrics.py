"""Small diagnostics the objectives report beside their loss."""
import tensorflow as tf


def mean_cosine(a, b):
    """Mean cosine similarity of matching rows: a, b (B, D) -> float32 scalar."""
    a = tf.math.l2_normalize(tf.cast(a, tf.float32), axis=-1)
    b = tf.math.l2_normalize(tf.cast(b, tf.float32), axis=-1)
    return tf.reduce_mean(tf.reduce_sum(a * b, axis=-1))


def code_entropy(codes):
    """Mean entropy (nats) of soft assignments: codes (B, K), rows summing to 1 -> scalar."""
    codes = tf.cast(codes, tf.float32)
    return tf.reduce_mean(-tf.reduce_sum(codes * tf.math.log(codes + 1e-12), axis=-1))
