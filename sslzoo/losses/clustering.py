"""Online clustering: Sinkhorn-Knopp codes and the SwAV swapped-prediction loss (Caron et al. 2020)."""
import tensorflow as tf

from sslzoo import replica
from sslzoo.losses import _checks


def _global_logsumexp_over_batch(log_q):
    """log sum_b exp(log_q[b, k]) over the global batch -> (1, K), stable across replicas."""
    local = tf.reduce_logsumexp(log_q, axis=0, keepdims=True)  # (1, K)
    return tf.reduce_logsumexp(replica.all_gather(local), axis=0, keepdims=True)


def sinkhorn(scores, epsilon=0.05, iterations=3):
    """Equipartitioned soft assignments of samples to prototypes.

    As in the SwAV paper's code: `Q = exp(scores / epsilon)` normalised to total
    1, then `iterations` rounds of (each prototype's column to total 1/K, each
    sample's row to total 1/B), finally times B so each row sums to 1. B is the
    global batch: column sums run over every replica. Computed in the log domain,
    so no exp over- or underflows whatever epsilon and the score range.

    Args:
      scores: (B, K) prototype scores of this replica's samples.
      epsilon: positive float, the entropic regularisation (smaller = sharper).
      iterations: int >= 1, rounds of column then row normalisation.
    Returns:
      (B, K) float32 codes, this replica's rows of the global codes. Not
      stop-gradient'ed: callers (e.g. `swav`) pass stop_gradient(scores).
    """
    scores = _checks.as_float32(scores, "scores")
    _checks.check_rank(scores, 2, "scores", "(batch, prototypes)")
    epsilon = _checks.positive_float32(epsilon, "epsilon")
    _checks.check_int_at_least(iterations, 1, "iterations")
    num_prototypes = tf.cast(tf.shape(scores)[1], tf.float32)
    global_batch = tf.cast(tf.shape(scores)[0] * replica.num_replicas(), tf.float32)
    log_q = scores / epsilon
    log_q -= tf.reduce_logsumexp(_global_logsumexp_over_batch(log_q))  # total 1
    for _ in range(iterations):
        log_q -= _global_logsumexp_over_batch(log_q) + tf.math.log(num_prototypes)  # columns to 1/K
        log_q -= tf.reduce_logsumexp(log_q, axis=1, keepdims=True) + tf.math.log(global_batch)  # rows to 1/B
    return tf.exp(log_q) * global_batch


def swav(scores, num_global=2, temperature=0.1, epsilon=0.05, iterations=3):
    """SwAV swapped prediction over multi-crop views.

    For each global crop s, codes `q_s = sinkhorn(stop_gradient(scores[s]))`;
    its term is the mean over the other crops v of
    `-mean_b sum_k q_s * log_softmax(scores[v] / temperature)`; the loss is the
    mean of the terms over the global crops.

    Args:
      scores: list of (B, K) prototype scores, one per crop, global crops first
        (at least two crops).
      num_global: int in [1, len(scores)], how many leading crops get codes.
      temperature: positive float of the predicted softmax.
      epsilon, iterations: passed to `sinkhorn`.
    Returns:
      float32 scalar, the mean over this replica's samples.
    """
    if not isinstance(scores, (list, tuple)) or len(scores) < 2:
        seen = len(scores) if isinstance(scores, (list, tuple)) else type(scores).__name__
        raise ValueError(f"`scores` must be a list of at least 2 (batch, prototypes) tensors, got {seen}")
    scores = [_checks.as_float32(s, f"scores[{i}]") for i, s in enumerate(scores)]
    for i, crop in enumerate(scores):
        _checks.check_rank(crop, 2, f"scores[{i}]", "(batch, prototypes)")
        _checks.check_same_shape(crop, scores[0], f"scores[{i}]", "scores[0]")
    _checks.check_int_at_least(num_global, 1, "num_global")
    if num_global > len(scores):
        raise ValueError(f"`num_global` must be at most len(scores) = {len(scores)}, got {num_global}")
    temperature = _checks.positive_float32(temperature, "temperature")
    log_predictions = [tf.nn.log_softmax(crop / temperature, axis=-1) for crop in scores]
    terms = []
    for s in range(num_global):
        codes = sinkhorn(tf.stop_gradient(scores[s]), epsilon=epsilon, iterations=iterations)
        cross_entropies = [
            -tf.reduce_mean(tf.reduce_sum(codes * log_predictions[v], axis=-1))
            for v in range(len(scores))
            if v != s
        ]
        terms.append(tf.add_n(cross_entropies) / len(cross_entropies))
    return tf.add_n(terms) / num_global
