"""Cross-modal losses: CLIP's symmetric cross-entropy, NCE and MIL-NCE (MMV)."""
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
    scale = _checks.positive_float(scale, "scale", image_emb.dtype)
    return _symmetric_cross_entropy(image_emb, text_emb, scale)


def nce(x, y, temperature=0.07):
    """Symmetric NCE between two modalities (MMV's video-audio term): `clip(x, y, 1 / temperature)`.

    Args:
      x: (B, D) embeddings of one modality.
      y: (B, D) embeddings of the other, row b paired with x row b.
      temperature: positive float.
    Returns:
      scalar (float64 for float64 inputs, else float32), the mean over this replica's pairs.
    """
    x, y = _validate_pair(x, y, "x", "y")
    temperature = _checks.positive_float(temperature, "temperature", x.dtype)
    return _symmetric_cross_entropy(x, y, 1.0 / temperature)


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


def mil_nce(video, text, text_mask=None, temperature=0.07):
    """Multiple-instance NCE (Miech et al. 2020), with cosine similarities.

    With `s(i, j, k) = v_i . t_jk / temperature`, the loss is the mean over clips i
    of `logsumexp(all s(i, j, k) and all s(j, i, k)) - logsumexp_k s(i, i, k)`:
    row i and column i of the (clip, clip x candidate) matrix form the
    denominator, so the positives appear in both halves, as in the authors'
    code. Candidates with `text_mask` false take no part anywhere. Every clip
    needs at least one real candidate.

    Args:
      video: (B, D) clip embeddings.
      text: (B, K, D) K candidate narration embeddings per clip.
      text_mask: optional (B, K) bool/0-1, true for real candidates.
      temperature: positive float.
    Returns:
      scalar (float64 for float64 inputs, else float32), the mean over this replica's clips.
    """
    video, text, text_mask = _validate_mil_inputs(video, text, text_mask)
    temperature = _checks.positive_float(temperature, "temperature", video.dtype)
    video, text = _ops.l2_normalize(video), _ops.l2_normalize(text)
    video_all = replica.all_gather(video)  # (NB, D)
    text_all = replica.all_gather(text)  # (NB, K, D)
    mask_all = replica.all_gather(tf.cast(text_mask, tf.float32)) > 0.5  # (NB, K); collectives take no bool
    # Row i: this clip against every candidate of the global batch -> (B, NB, K).
    row = tf.einsum("id,jkd->ijk", video, text_all) / temperature
    row = _ops.excluded_where(~mask_all[tf.newaxis], row)
    # Column i: every clip of the global batch against this clip's candidates -> (B, NB, K).
    column = tf.einsum("jd,ikd->ijk", video_all, text) / temperature
    column = _ops.excluded_where(~text_mask[:, tf.newaxis], column)
    local_batch = tf.shape(video)[0]
    denominator = tf.reduce_logsumexp(tf.reshape(tf.concat([row, column], axis=1), [local_batch, -1]), axis=1)
    positives = tf.gather(row, replica.global_rows(local_batch), axis=1, batch_dims=1)  # (B, K): s(i, i, k)
    numerator = tf.reduce_logsumexp(positives, axis=1)
    return tf.reduce_mean(denominator - numerator)
