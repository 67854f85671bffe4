"""Non-contrastive losses: BYOL, SimSiam, VICReg and DINO (no negatives).

Replica convention (see `sslzoo.losses`): `byol_loss`, `simsiam_loss` and
`dino_loss` return the mean over this replica's rows; `vicreg` returns this
replica's invariance term plus the variance and covariance terms of the
GLOBAL batch (identical on every replica). In both cases the mean over
replicas equals the single-device loss of the global batch. `dino_center`
returns the new center from the teacher outputs' mean over the global batch,
identical on every replica.
"""
import numpy as np
import tensorflow as tf

from sslzoo import replica
from sslzoo.losses import _checks
from sslzoo.losses import _ops


def _scalar(value, name, dtype):
    """A positive hyperparameter as a `dtype` scalar; Python numbers are converted directly
    in `dtype` (not through float32, which would round 1e-4 in float64 losses)."""
    _checks.positive_float(value, name)
    if isinstance(value, (int, float, np.number)):
        return tf.constant(float(value), dtype)
    return tf.cast(value, dtype)


def _weight(value, dtype):
    if isinstance(value, (int, float, np.number)):
        return tf.constant(float(value), dtype)
    return tf.cast(value, dtype)


def _cosine_pairs(p, z):
    """Row-wise cosine similarity (B,) of p and z (B, D), checked and cast."""
    p, z = _checks.as_float_pair(p, z, "p", "z")
    _checks.check_rank(p, 2, "p", "(batch, dim)")
    _checks.check_same_shape(p, z, "p", "z")
    return tf.reduce_sum(_ops.l2_normalize(p) * _ops.l2_normalize(z), axis=-1)


def byol_loss(p, z):
    """BYOL's normalised MSE: mean over rows of `||p/|p| - z/|z|||^2 = 2 - 2 cos(p, z)`.

    The target `z` is used as given: stopping its gradient (it comes from the EMA
    target network) is the model's job.

    Args:
      p: (B, D) online predictions on this replica.
      z: (B, D) target projections of the other view.
    Returns:
      scalar in [0, 4] (float64 for float64 inputs, else float32).
    """
    return tf.reduce_mean(2.0 - 2.0 * _cosine_pairs(p, z))


def simsiam_loss(p, z):
    """SimSiam's negative cosine similarity: `-mean_b cos(p_b, z_b)`.

    The stop-gradient on `z` is the model's job (SimSiam's `D(p, stopgrad(z))`).

    Args:
      p: (B, D) predictions on this replica.
      z: (B, D) projections of the other view.
    Returns:
      scalar in [-1, 1] (float64 for float64 inputs, else float32).
    """
    return -tf.reduce_mean(_cosine_pairs(p, z))


def _variance_covariance(z, global_batch, epsilon):
    """Hinge-variance and covariance terms of z (B, D) over the global batch.

    Means and the Gram matrix are summed over replicas (`all_reduce_sum`) and then
    divided by the global count: mean = sum z / N, cov = sum (z - mean)^T (z - mean) / (N - 1).
    """
    dim = tf.cast(tf.shape(z)[1], z.dtype)
    mean = replica.all_reduce_sum(tf.reduce_sum(z, axis=0)) / global_batch  # (D,)
    centred = z - mean
    covariance = replica.all_reduce_sum(tf.matmul(centred, centred, transpose_a=True)) / (global_batch - 1.0)
    variance = tf.linalg.diag_part(covariance)  # unbiased, as torch.var
    std = tf.sqrt(variance + epsilon)
    variance_term = tf.reduce_mean(tf.nn.relu(1.0 - std))
    off_diagonal = covariance - tf.linalg.diag(variance)
    covariance_term = tf.reduce_sum(tf.square(off_diagonal)) / dim
    return variance_term, covariance_term


def vicreg_terms(z1, z2, epsilon=1e-4):
    """The three unweighted VICReg terms.

    With N the global batch (B x replicas) and D the dimension:
    - invariance: `mean_{b,d} (z1 - z2)^2` over this replica's rows;
    - variance: `(v(z1) + v(z2)) / 2`, `v(z) = mean_d relu(1 - sqrt(Var_d(z) + epsilon))`,
      Var the unbiased (N - 1) variance over the global batch;
    - covariance: `c(z1) + c(z2)`, `c(z) = sum_{i != j} Cov(z)_ij^2 / D`, Cov the
      unbiased covariance over the global batch.
    The global statistics are exact: each replica adds its column sums and its
    Gram matrix of the centred rows with `replica.all_reduce_sum`, and the sums are
    divided by the global counts N and N - 1 (as barlow_twins' `_standardize`).

    Args:
      z1, z2: (B, D) expander outputs of the two views on this replica; N must be >= 2.
      epsilon: positive float added to the variance before the square root.
    Returns:
      (invariance, variance, covariance) scalars (float64 for float64 inputs, else float32).
    """
    z1, z2 = _checks.as_float_pair(z1, z2, "z1", "z2")
    _checks.check_rank(z1, 2, "z1", "(batch, dim)")
    _checks.check_same_shape(z1, z2, "z1", "z2")
    epsilon = _scalar(epsilon, "epsilon", z1.dtype)
    global_batch = tf.cast(tf.shape(z1)[0] * replica.num_replicas(), z1.dtype)
    invariance = tf.reduce_mean(tf.square(z1 - z2))
    variance_1, covariance_1 = _variance_covariance(z1, global_batch, epsilon)
    variance_2, covariance_2 = _variance_covariance(z2, global_batch, epsilon)
    return invariance, (variance_1 + variance_2) / 2.0, covariance_1 + covariance_2


def vicreg(z1, z2, invariance=25.0, variance=25.0, covariance=1.0, epsilon=1e-4):
    """VICReg (Bardes, Ponce, LeCun 2022): `invariance*I + variance*V + covariance*C`.

    The terms are those of `vicreg_terms` (I over this replica's rows; V and C over
    the global batch, summed across replicas with `all_reduce_sum` and divided by the
    global counts, so they are identical on every replica and equal to the
    single-device values of the whole batch).

    Args:
      z1, z2: (B, D) expander outputs of the two views on this replica.
      invariance, variance, covariance: non-negative weights (paper: 25, 25, 1).
      epsilon: added to the variance before the square root (1e-4).
    Returns:
      scalar (float64 for float64 inputs, else float32).
    """
    for name, value in (("invariance", invariance), ("variance", variance), ("covariance", covariance)):
        if isinstance(value, (int, float)) and not value >= 0:
            raise ValueError(f"`{name}` must be a non-negative number, got {value!r}")
    term_i, term_v, term_c = vicreg_terms(z1, z2, epsilon)
    dtype = term_i.dtype
    return (_weight(invariance, dtype) * term_i + _weight(variance, dtype) * term_v
            + _weight(covariance, dtype) * term_c)


def _logit_list(logits, name):
    if not isinstance(logits, (list, tuple)) or not logits:
        raise ValueError(f"`{name}` must be a non-empty list of (B, K) tensors, got {type(logits).__name__}")
    return [_checks.as_float(x, name) for x in logits]


def dino_loss(student_logits, teacher_logits, center, student_temp=0.1, teacher_temp=0.04):
    """DINO's cross-entropy between teacher and student crops.

    `q_t = softmax((teacher_logits[t] - center) / teacher_temp)` (no gradient) and
    `log p_s = log_softmax(student_logits[s] / student_temp)`; the loss is the mean
    over all pairs (t, s) with s != t of `mean_b -sum_k q_t log p_s` (crops are
    ordered globals first, so teacher crop t and student crop t are the same view).

    Args:
      student_logits: list of (B, K), one per crop, globals first.
      teacher_logits: list of (B, K), one per global crop (len <= len(student_logits)).
      center: (K,) or (1, K) running center of the teacher outputs.
      student_temp: positive float.
      teacher_temp: positive float or scalar tensor (the warm-up schedule).
    Returns:
      scalar (float64 for float64 inputs, else float32).
    """
    students = _logit_list(student_logits, "student_logits")
    teachers = _logit_list(teacher_logits, "teacher_logits")
    if len(teachers) > len(students) or (len(students) == 1):
        raise ValueError(f"`teacher_logits` must hold at most len(student_logits) crops and there must be "
                         f"at least 2 student crops, got {len(teachers)} and {len(students)}")
    dtype = _checks.compute_dtype(*(students + teachers + [tf.convert_to_tensor(center)]))
    students = [tf.cast(x, dtype) for x in students]
    teachers = [tf.cast(x, dtype) for x in teachers]
    for i, x in enumerate(students + teachers):
        _checks.check_rank(x, 2, "student_logits" if i < len(students) else "teacher_logits", "(batch, K)")
        _checks.check_same_shape(x, students[0], "logits", "student_logits[0]")
    center = tf.cast(_checks.as_float(center, "center"), dtype)
    center = tf.reshape(center, [1, -1])
    _checks.check_dims(center, 1, students[0].shape[-1], "center", "the logits' K")
    student_temp = _scalar(student_temp, "student_temp", dtype)
    teacher_temp = _scalar(teacher_temp, "teacher_temp", dtype)
    log_probs = [tf.nn.log_softmax(s / student_temp, axis=-1) for s in students]
    total, terms = tf.constant(0.0, dtype), 0
    for t, teacher in enumerate(teachers):
        targets = tf.stop_gradient(tf.nn.softmax((teacher - center) / teacher_temp, axis=-1))
        for s, log_p in enumerate(log_probs):
            if s == t:
                continue
            total += tf.reduce_mean(-tf.reduce_sum(targets * log_p, axis=-1))
            terms += 1
    return total / tf.cast(terms, dtype)


def dino_center(teacher_logits, center, momentum=0.9):
    """The updated DINO center: `momentum * center + (1 - momentum) * mean`.

    `mean` (1, K) is the mean of the teacher logits over all global crops and the
    GLOBAL batch: each replica sums its rows, `replica.all_reduce_sum` adds the
    sums, and the total is divided by crops x B x replicas. Every replica returns
    the same value (the official code all-reduces the batch center likewise).

    Args:
      teacher_logits: list of (B, K), one per global crop (or one (C*B, K) tensor).
      center: (1, K) or (K,) current center.
      momentum: float in [0, 1].
    Returns:
      (1, K) new center (float64 when the inputs are float64, else float32).
    """
    if isinstance(momentum, (int, float)) and not 0.0 <= momentum <= 1.0:
        raise ValueError(f"`momentum` must be in [0, 1], got {momentum!r}")
    if not isinstance(teacher_logits, (list, tuple)):
        teacher_logits = [teacher_logits]
    teachers = _logit_list(list(teacher_logits), "teacher_logits")
    dtype = _checks.compute_dtype(*(teachers + [tf.convert_to_tensor(center)]))
    stacked = tf.stop_gradient(tf.concat([tf.cast(x, dtype) for x in teachers], axis=0))
    _checks.check_rank(stacked, 2, "teacher_logits", "(batch, K)")
    count = tf.cast(tf.shape(stacked)[0] * replica.num_replicas(), dtype)
    batch_center = replica.all_reduce_sum(tf.reduce_sum(stacked, axis=0, keepdims=True)) / count
    center = tf.reshape(tf.cast(_checks.as_float(center, "center"), dtype), [1, -1])
    momentum = _weight(momentum, dtype)
    return momentum * center + (1.0 - momentum) * batch_center
