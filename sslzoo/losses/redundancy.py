"""Redundancy-reduction loss: Barlow Twins (Zbontar et al. 2021)."""
import tensorflow as tf

from sslzoo import replica
from sslzoo.losses import _checks

# Added to the (biased) variance before the square root when standardising.
_VARIANCE_EPSILON = 1e-5


def _standardize(z, global_batch):
    """Each column of z (B, D) minus its global-batch mean, over its global std."""
    mean = replica.all_reduce_sum(tf.reduce_sum(z, axis=0)) / global_batch
    centred = z - mean
    variance = replica.all_reduce_sum(tf.reduce_sum(tf.square(centred), axis=0)) / global_batch
    return centred * tf.math.rsqrt(variance + _VARIANCE_EPSILON)


def barlow_twins_terms(z1, z2):
    """The two terms of the Barlow Twins loss, from one cross-correlation.

    Args:
      z1, z2: (B, D) projections of the two views on this replica.
    Returns:
      (on_diagonal, off_diagonal) scalars (float64 for float64 inputs, else float32): `sum_i (1 - C_ii)^2` and
      `sum_{i != j} C_ij^2`, C computed over the global batch as in `barlow_twins`.
    """
    z1, z2 = _checks.as_float_pair(z1, z2, "z1", "z2")
    _checks.check_rank(z1, 2, "z1", "(batch, dim)")
    _checks.check_same_shape(z1, z2, "z1", "z2")
    global_batch = tf.cast(tf.shape(z1)[0] * replica.num_replicas(), z1.dtype)
    z1n, z2n = _standardize(z1, global_batch), _standardize(z2, global_batch)
    correlation = replica.all_reduce_sum(tf.matmul(z1n, z2n, transpose_a=True)) / global_batch  # (D, D)
    diagonal = tf.linalg.diag_part(correlation)
    on_diagonal = tf.reduce_sum(tf.square(1.0 - diagonal))
    off_diagonal = tf.reduce_sum(tf.square(correlation - tf.linalg.diag(diagonal)))
    return on_diagonal, off_diagonal


def barlow_twins(z1, z2, lambd=5e-3):
    """Cross-correlation of the two views pushed towards the identity.

    Each dimension is standardised over the global batch (biased variance,
    eps 1e-5), `C = z1n^T z2n / N` with N the global batch size, and the loss is
    `sum_i (1 - C_ii)^2 + lambd * sum_{i != j} C_ij^2`. Means, variances and C
    are summed over replicas, so every replica returns the global value.

    Args:
      z1: (B, D) projections of the first views on this replica.
      z2: (B, D) projections of the second views.
      lambd: non-negative float, weight of the off-diagonal (redundancy) term.
    Returns:
      scalar (float64 for float64 inputs, else float32).
    """
    if isinstance(lambd, (int, float)) and not lambd >= 0:
        raise ValueError(f"`lambd` must be a non-negative number, got {lambd!r}")
    on_diagonal, off_diagonal = barlow_twins_terms(z1, z2)
    return on_diagonal + _checks.as_weight(lambd, on_diagonal.dtype) * off_diagonal
