"""Online clustering: Sinkhorn-Knopp codes and the SwAV swapped-prediction loss (Caron et al. 2020)."""
import tensorflow as tf

from sslzoo import replica
from sslzoo.losses import _checks


def _global_logsumexp_over_batch(log_q, log_extra=None):
    """log sum_b exp(log_q[b, k]) over the global batch (and the extra rows) -> (1, K).

    `log_q` rows are this replica's and are gathered from every replica;
    `log_extra` rows (a queue) are the same on every replica and count once.
    """
    parts = [replica.all_gather(tf.reduce_logsumexp(log_q, axis=0, keepdims=True))]
    if log_extra is not None:
        parts.append(tf.reduce_logsumexp(log_extra, axis=0, keepdims=True))
    return tf.reduce_logsumexp(tf.concat(parts, 0), axis=0, keepdims=True)


def sinkhorn(scores, epsilon=0.05, iterations=3, extra_scores=None):
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
      extra_scores: optional (L, K) scores of rows that take part in the
        normalisation but are not returned, identical on every replica (SwAV's
        queue of past embeddings). The row count is then B + L.
    Returns:
      (B, K) codes (float64 for float64 scores, else float32), this replica's rows of the global codes. Not
      stop-gradient'ed: callers (e.g. `swav`) pass stop_gradient(scores).
    """
    scores = _checks.as_float(scores, "scores")
    _checks.check_rank(scores, 2, "scores", "(batch, prototypes)")
    epsilon = _checks.positive_float(epsilon, "epsilon", scores.dtype)
    _checks.check_int_at_least(iterations, 1, "iterations")
    num_prototypes = tf.cast(tf.shape(scores)[1], scores.dtype)
    global_batch = tf.cast(tf.shape(scores)[0] * replica.num_replicas(), scores.dtype)
    log_q, log_extra = scores / epsilon, None
    if extra_scores is not None:
        extra_scores = _checks.as_float(extra_scores, "extra_scores", scores.dtype)
        _checks.check_rank(extra_scores, 2, "extra_scores", "(rows, prototypes)")
        if extra_scores.shape[1] != scores.shape[1]:
            raise ValueError(f"`extra_scores` must have {scores.shape[1]} prototypes like `scores`, "
                             f"got shape {extra_scores.shape}")
        log_extra = extra_scores / epsilon
        global_batch += tf.cast(tf.shape(extra_scores)[0], scores.dtype)
    total = tf.reduce_logsumexp(_global_logsumexp_over_batch(log_q, log_extra))
    log_q -= total  # total 1
    log_extra = None if log_extra is None else log_extra - total
    for _ in range(iterations):
        column = _global_logsumexp_over_batch(log_q, log_extra) + tf.math.log(num_prototypes)
        log_q -= column  # columns to 1/K
        log_q -= tf.reduce_logsumexp(log_q, axis=1, keepdims=True) + tf.math.log(global_batch)  # rows to 1/B
        if log_extra is not None:
            log_extra -= column
            log_extra -= tf.reduce_logsumexp(log_extra, axis=1, keepdims=True) + tf.math.log(global_batch)
    return tf.exp(log_q) * global_batch


def swav(scores, num_global=2, temperature=0.1, epsilon=0.05, iterations=3, queue_scores=None):
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
      queue_scores: optional list of `num_global` (L, K) score matrices of queued
        past embeddings, one per global crop, identical on every replica; they
        join crop s's Sinkhorn normalisation as `extra_scores`.
    Returns:
      scalar (float64 for float64 inputs, else float32), the mean over this replica's samples.
    """
    if not isinstance(scores, (list, tuple)) or len(scores) < 2:
        seen = len(scores) if isinstance(scores, (list, tuple)) else type(scores).__name__
        raise ValueError(f"`scores` must be a list of at least 2 (batch, prototypes) tensors, got {seen}")
    scores = [_checks.as_float(s, f"scores[{i}]") for i, s in enumerate(scores)]
    dtype = _checks.compute_dtype(*scores)
    scores = [tf.cast(s, dtype) for s in scores]
    for i, crop in enumerate(scores):
        _checks.check_rank(crop, 2, f"scores[{i}]", "(batch, prototypes)")
        _checks.check_same_shape(crop, scores[0], f"scores[{i}]", "scores[0]")
    _checks.check_int_at_least(num_global, 1, "num_global")
    if num_global > len(scores):
        raise ValueError(f"`num_global` must be at most len(scores) = {len(scores)}, got {num_global}")
    temperature = _checks.positive_float(temperature, "temperature", dtype)
    if queue_scores is not None and len(queue_scores) != num_global:
        raise ValueError(f"`queue_scores` must hold one matrix per global crop ({num_global}), "
                         f"got {len(queue_scores)}")
    log_predictions = [tf.nn.log_softmax(crop / temperature, axis=-1) for crop in scores]
    terms = []
    for s in range(num_global):
        extra = None if queue_scores is None else tf.stop_gradient(queue_scores[s])
        codes = sinkhorn(tf.stop_gradient(scores[s]), epsilon=epsilon, iterations=iterations, extra_scores=extra)
        cross_entropies = [
            -tf.reduce_mean(tf.reduce_sum(codes * log_predictions[v], axis=-1))
            for v in range(len(scores))
            if v != s
        ]
        terms.append(tf.add_n(cross_entropies) / len(cross_entropies))
    return tf.add_n(terms) / num_global
