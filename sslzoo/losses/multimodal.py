"""Cross-modal losses: CLIP's symmetric cross-entropy, NCE and MIL-NCE (MMV)."""
import numpy as np
import tensorflow as tf

from sslzoo import replica
from sslzoo.losses import _checks
from sslzoo.losses import _ops


def _symmetric_cross_entropy(x, y, scale):
    """(CE(S, diag) + CE(S^T, diag)) / 2 over this replica's rows; S = scale * cos(x_i, y_j).

    x, y: (B, D) float32 after validation; scale: scalar (float64 for float64 inputs, else float32).
    """
    x, y = _ops.l2_normalize(x), _ops.l2_normalize(y)
    x_all, y_all = replica.all_gather(x), replica.all_gather(y)  # (NB, D)
    labels = replica.global_rows(tf.shape(x)[0])
    x_to_y = scale * tf.matmul(x, y_all, transpose_b=True)  # this replica's rows of S
    y_to_x = scale * tf.matmul(y, x_all, transpose_b=True)  # this replica's rows of S^T
    return 0.5 * (_ops.mean_cross_entropy(x_to_y, labels) + _ops.mean_cross_entropy(y_to_x, labels))


def _positive(value, name, dtype):
    """`_checks.positive_float` without its float32 detour: a Python 0.1 becomes float64 0.1 exactly.

    (`tf.cast(0.1, tf.float64)` first makes a float32 tensor, 0.10000000149.)
    """
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        value = np.asarray(value, dtype.as_numpy_dtype)
    return _checks.positive_float(value, name, dtype)


def _validate_pair(x, y, name_x, name_y):
    """Float (B, D) pair of one compute dtype with equal shapes."""
    x, y = _checks.as_float_pair(x, y, name_x, name_y)
    _checks.check_rank(x, 2, name_x, "(batch, dim)")
    _checks.check_same_shape(x, y, name_x, name_y)
    return x, y


def clip(image_emb, text_emb, scale):
    """CLIP's symmetric contrastive loss (Radford et al. 2021).

    `(CE(S, diag) + CE(S^T, diag)) / 2` with S the N x N cosine similarities of
    the global batch times `scale`.

    Args:
      image_emb: (B, D) image embeddings.
      text_emb: (B, D) text embeddings, row b paired with image b.
      scale: positive scalar multiplier (the exp of a learnable log-scale; a
        variable or tensor is fine).
    Returns:
      scalar (float64 for float64 inputs, else float32), the mean over this replica's pairs.
    """
    image_emb, text_emb = _validate_pair(image_emb, text_emb, "image_emb", "text_emb")
    scale = _positive(scale, "scale", image_emb.dtype)
    return _symmetric_cross_entropy(image_emb, text_emb, scale)


def _masked_mean(per_anchor, anchor_mask):
    """Sum of `per_anchor` over this replica's real anchors / the real anchors of the GLOBAL batch * N.

    per_anchor: (B,) float32/float64 losses of this replica's anchors (any finite value where
    masked); anchor_mask: (B,) bool. The count is all-reduced over the N replicas, so the mean
    over replicas of the returned value is `sum over real anchors / number of real anchors` of
    the global batch, the replica convention of `sslzoo.losses`. With no real anchor anywhere
    the result is 0 (and so is its gradient).
    """
    kept = tf.where(anchor_mask, per_anchor, tf.zeros_like(per_anchor))
    count = tf.stop_gradient(replica.all_reduce_sum(tf.reduce_sum(tf.cast(anchor_mask, per_anchor.dtype))))
    return tf.math.divide_no_nan(tf.reduce_sum(kept), count) * tf.cast(replica.num_replicas(), per_anchor.dtype)


def _check_row_mask(mask, batch, name):
    """(B,) 0/1 or bool mask -> bool (B,); ValueError naming `name` on a bad shape or dtype."""
    mask = tf.convert_to_tensor(mask)
    if not (mask.dtype.is_floating or mask.dtype.is_integer or mask.dtype.is_bool):
        raise ValueError(f"`{name}` must be a 0/1 or bool tensor of shape (batch,), got dtype {mask.dtype.name}")
    _checks.check_rank(mask, 1, name, "(batch,)")
    _checks.check_dims(mask, 0, batch, name, "the batch")
    return mask if mask.dtype.is_bool else tf.greater(tf.cast(mask, tf.float32), 0.5)


def nce(x, y, temperature=0.07, mask=None):
    """Symmetric NCE between two modalities (MMV's video-audio term): `clip(x, y, 1 / temperature)`.

    With `mask`, a clip whose mask is 0 (no audio, say) is removed from the term
    entirely, exactly as if it were deleted from the (global) batch: it is no
    anchor in either direction and neither of its embeddings is a negative for
    the others (the missing modality has no embedding; dropping the present one
    too keeps the term a function of the complete pairs only). The mean runs over
    the real anchors of the global batch, so missing clips do not bias it:
    inside a replica context with N replicas this replica returns
    `sum of its real anchors' losses / real anchors of the global batch * N`
    (the mean over replicas is the global value). No real anchor gives 0.

    Args:
      x: (B, D) embeddings of one modality.
      y: (B, D) embeddings of the other, row b paired with x row b.
      temperature: positive float.
      mask: optional (B,) 0/1 or bool, 1 where the clip has both modalities.
    Returns:
      scalar (float64 for float64 inputs, else float32), this replica's share (see above).
    """
    x, y = _validate_pair(x, y, "x", "y")
    temperature = _positive(temperature, "temperature", x.dtype)
    if mask is None:
        return _symmetric_cross_entropy(x, y, 1.0 / temperature)
    mask = _check_row_mask(mask, x.shape[0], "mask")
    scale = 1.0 / temperature
    x, y = _ops.l2_normalize(x), _ops.l2_normalize(y)
    x_all, y_all = replica.all_gather(x), replica.all_gather(y)  # (NB, D)
    mask_all = replica.all_gather(tf.cast(mask, tf.float32)) > 0.5  # (NB,); collectives take no bool
    labels = replica.global_rows(tf.shape(x)[0])
    absent = ~mask_all[tf.newaxis, :]
    x_to_y = _ops.excluded_where(absent, scale * tf.matmul(x, y_all, transpose_b=True))  # (B, NB)
    y_to_x = _ops.excluded_where(absent, scale * tf.matmul(y, x_all, transpose_b=True))
    per_anchor = 0.5 * (tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=x_to_y)
                        + tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=y_to_x))
    return _masked_mean(per_anchor, mask)


def _validate_mil_inputs(video, text, text_mask):
    """Float video (B, D), text (B, K, D) of one dtype and bool mask (B, K) after shape checks."""
    video, text = _checks.as_float_pair(video, text, "video", "text")
    _checks.check_rank(video, 2, "video", "(batch, dim)")
    _checks.check_rank(text, 3, "text", "(batch, candidates, dim)")
    _checks.check_dims(text, 0, video.shape[0], "text", "the batch of `video`")
    _checks.check_dims(text, 2, video.shape[1], "text", "the dim of `video`")
    if text_mask is None:
        return video, text, tf.ones(tf.shape(text)[:2], tf.bool)
    text_mask = tf.convert_to_tensor(text_mask)
    _checks.check_rank(text_mask, 2, "text_mask", "(batch, candidates)")
    _checks.check_dims(text_mask, 0, text.shape[0], "text_mask", "the batch of `text`")
    _checks.check_dims(text_mask, 1, text.shape[1], "text_mask", "the candidates K of `text`")
    return video, text, tf.cast(text_mask, tf.bool)


def mil_nce(video, text, text_mask=None, temperature=0.07, clip_mask=None):
    """Multiple-instance NCE (Miech et al. 2020), with cosine similarities.

    With `s(i, j, k) = v_i . t_jk / temperature`, the loss is the mean over clips i
    of `logsumexp(all s(i, j, k) and all s(j, i, k)) - logsumexp_k s(i, i, k)`:
    row i and column i of the (clip, clip x candidate) matrix form the
    denominator, so the positives appear in both halves, as in the authors'
    code. Candidates with `text_mask` false take no part anywhere.

    Missing text: a clip is *real* when `clip_mask` (default all 1) is 1 and it
    has at least one real candidate. A clip that is not real is removed from the
    term exactly as if deleted from the global batch: it is no anchor, its
    candidates take no part, and its video is no negative in the other clips'
    columns. The mean runs over the real clips of the global batch: inside a
    replica context with N replicas this replica returns
    `sum over its real clips / real clips of the global batch * N`, so the mean
    over replicas is the global value. No real clip gives 0.

    Args:
      video: (B, D) clip embeddings.
      text: (B, K, D) K candidate narration embeddings per clip.
      text_mask: optional (B, K) bool/0-1, true for real candidates.
      temperature: positive float.
      clip_mask: optional (B,) bool/0-1, 0 removes the clip (e.g. text dropped).
    Returns:
      scalar (float64 for float64 inputs, else float32), this replica's share (see above).
    """
    masked = text_mask is not None or clip_mask is not None
    video, text, text_mask = _validate_mil_inputs(video, text, text_mask)
    temperature = _positive(temperature, "temperature", video.dtype)
    if clip_mask is not None:
        clip_mask = _check_row_mask(clip_mask, video.shape[0], "clip_mask")
        text_mask = tf.logical_and(text_mask, clip_mask[:, tf.newaxis])
    real = tf.reduce_any(text_mask, axis=1)  # (B,): the clip takes part in the term
    video, text = _ops.l2_normalize(video), _ops.l2_normalize(text)
    video_all = replica.all_gather(video)  # (NB, D)
    text_all = replica.all_gather(text)  # (NB, K, D)
    mask_all = replica.all_gather(tf.cast(text_mask, tf.float32)) > 0.5  # (NB, K); collectives take no bool
    real_all = tf.reduce_any(mask_all, axis=1)  # (NB,)
    # Row i: this clip against every candidate of the global batch -> (B, NB, K).
    row = tf.einsum("id,jkd->ijk", video, text_all) / temperature
    row = _ops.excluded_where(~mask_all[tf.newaxis], row)
    # Column i: every real clip of the global batch against this clip's candidates -> (B, NB, K).
    column = tf.einsum("jd,ikd->ijk", video_all, text) / temperature
    column = _ops.excluded_where(~(text_mask[:, tf.newaxis] & real_all[tf.newaxis, :, tf.newaxis]), column)
    local_batch = tf.shape(video)[0]
    denominator = tf.reduce_logsumexp(tf.reshape(tf.concat([row, column], axis=1), [local_batch, -1]), axis=1)
    positives = tf.gather(row, replica.global_rows(local_batch), axis=1, batch_dims=1)  # (B, K): s(i, i, k)
    numerator = tf.reduce_logsumexp(positives, axis=1)
    if not masked:
        return tf.reduce_mean(denominator - numerator)
    return _masked_mean(denominator - numerator, real)
