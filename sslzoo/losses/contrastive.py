"""Pairwise and instance-discrimination losses: margin contrastive, NT-Xent, InfoNCE.

All are replica-aware (see `sslzoo.losses`): each returns the mean over this
replica's anchors, with negatives gathered from every replica.
"""
import tensorflow as tf

from sslzoo import replica
from sslzoo.losses import _checks
from sslzoo.losses import _ops

# Floor under the squared distance before its square root: keeps the gradient of
# max(0, margin - d) finite for identical pairs (d = 0).
_DISTANCE_EPSILON = 1e-12


def margin_contrastive(x1, x2, similar, margin=1.0):
    """Siamese margin loss (Hadsell et al. 2006).

    `mean_b [similar_b * d_b^2 + (1 - similar_b) * max(0, margin - d_b)^2]` with
    d_b = ||x1_b - x2_b||_2. Pairs are independent, so no cross-replica traffic.

    Args:
      x1: (B, D) embeddings of the first items.
      x2: (B, D) embeddings of the second items.
      similar: (B,) 1 for a similar pair, 0 for a dissimilar one (bool or numeric).
      margin: positive float, the distance beyond which dissimilar pairs cost nothing.
    Returns:
      scalar (float64 for float64 inputs, else float32).
    """
    x1, x2 = _checks.as_float_pair(x1, x2, "x1", "x2")
    similar = _checks.as_float(similar, "similar", x1.dtype)
    _checks.check_rank(x1, 2, "x1", "(batch, dim)")
    _checks.check_same_shape(x1, x2, "x1", "x2")
    _checks.check_rank(similar, 1, "similar", "(batch,)")
    _checks.check_dims(similar, 0, x1.shape[0], "similar", "the batch of `x1`")
    margin = _checks.positive_float(margin, "margin", x1.dtype)
    squared = tf.reduce_sum(tf.square(x1 - x2), axis=-1)
    distance = tf.sqrt(tf.maximum(squared, _DISTANCE_EPSILON))
    hinge = tf.nn.relu(margin - distance)
    return tf.reduce_mean(similar * squared + (1.0 - similar) * tf.square(hinge))


def nt_xent(z1, z2, temperature=0.1):
    """SimCLR's normalised-temperature cross-entropy (Chen et al. 2020).

    The 2B local embeddings are anchors; the candidates are all 2NB embeddings
    of the global batch except the anchor itself; the positive is the other view
    of the same image. Cosine similarities divided by `temperature`.

    Args:
      z1: (B, D) projections of the first views on this replica.
      z2: (B, D) projections of the second views.
      temperature: positive float.
    Returns:
      scalar (float64 for float64 inputs, else float32), the mean over the 2B local anchors.
    """
    z1, z2 = _checks.as_float_pair(z1, z2, "z1", "z2")
    _checks.check_rank(z1, 2, "z1", "(batch, dim)")
    _checks.check_same_shape(z1, z2, "z1", "z2")
    temperature = _checks.positive_float(temperature, "temperature", z1.dtype)
    z1, z2 = _ops.l2_normalize(z1), _ops.l2_normalize(z2)
    first_all, second_all = replica.all_gather(z1), replica.all_gather(z2)
    candidates = tf.concat([first_all, second_all], axis=0)  # (2NB, D)
    global_batch = tf.shape(first_all)[0]
    rows = replica.global_rows(tf.shape(z1)[0])  # (B,) this replica's rows in each half
    self_index = tf.concat([rows, rows + global_batch], axis=0)  # (2B,)
    positive_index = tf.concat([rows + global_batch, rows], axis=0)
    anchors = tf.concat([z1, z2], axis=0)  # (2B, D)
    logits = tf.matmul(anchors, candidates, transpose_b=True) / temperature  # (2B, 2NB)
    is_self = tf.one_hot(self_index, 2 * global_batch, on_value=True, off_value=False)
    logits = _ops.excluded_where(is_self, logits)
    return _ops.mean_cross_entropy(logits, positive_index)


def info_nce(query, key, queue=None, temperature=0.2):
    """MoCo's InfoNCE (He et al. 2020; v3: Chen et al. 2021).

    With a queue (MoCo v1/v2): logits `[q.k, q.queue^T] / temperature` with the
    positive first; the queue is already global, so nothing is gathered. With
    `queue=None` (MoCo v3): logits `q . K^T / temperature` against the keys K of
    the global batch (gathered), the positive at this sample's global row. Any
    stop-gradient on keys or queue belongs to the model.

    Args:
      query: (B, D) query embeddings.
      key: (B, D) key embeddings, row b the positive of query b.
      queue: optional (Q, D) negative keys.
      temperature: positive float.
    Returns:
      scalar (float64 for float64 inputs, else float32), the mean over the B local queries.
    """
    query, key = _checks.as_float_pair(query, key, "query", "key")
    _checks.check_rank(query, 2, "query", "(batch, dim)")
    _checks.check_same_shape(query, key, "query", "key")
    temperature = _checks.positive_float(temperature, "temperature", query.dtype)
    query, key = _ops.l2_normalize(query), _ops.l2_normalize(key)
    if queue is None:
        keys = replica.all_gather(key)  # (NB, D)
        logits = tf.matmul(query, keys, transpose_b=True) / temperature
        return _ops.mean_cross_entropy(logits, replica.global_rows(tf.shape(query)[0]))
    queue = _checks.as_float(queue, "queue", query.dtype)
    _checks.check_rank(queue, 2, "queue", "(queue_size, dim)")
    _checks.check_dims(queue, 1, query.shape[-1], "queue", "the dim of `query`")
    queue = _ops.l2_normalize(queue)
    positive = tf.reduce_sum(query * key, axis=-1, keepdims=True)  # (B, 1)
    negative = tf.matmul(query, queue, transpose_b=True)  # (B, Q)
    logits = tf.concat([positive, negative], axis=1) / temperature
    return _ops.mean_cross_entropy(logits, tf.zeros(tf.shape(query)[:1], tf.int32))
