"""Multi-label linear evaluation (AudioSet style): one logistic regression per class on frozen,
standardised features, scored by mean average precision (mAP).

Average precision of one class is the area under its precision-recall steps, taking a
threshold at every distinct score: AP = sum_n (R_n - R_(n-1)) P_n (the definition of
scikit-learn's `average_precision_score`, and the "mAP" AudioSet papers report). mAP is the
mean over the classes with at least one positive in the evaluated set.
"""
import numpy as np
import scipy.optimize
import tensorflow as tf

from sslzoo.evaluation.features import check_features, standardize
from sslzoo.evaluation.linear_probe import L2_GRID, VALIDATION_FRACTION


def average_precision(scores, targets):
    """AP per class.

    Args:
      scores: float (N, C), higher = more likely positive.
      targets: {0, 1} (N, C).
    Returns:
      float64 (C,): AP of each class, NaN for a class without positives.
    """
    scores, targets = _check_scores_targets(scores, targets)
    result = np.full(scores.shape[1], np.nan)
    for c in range(scores.shape[1]):
        positives = targets[:, c].sum()
        if positives == 0:
            continue
        order = np.argsort(-scores[:, c], kind="stable")
        ranked_scores, hits = scores[order, c], targets[order, c]
        # The last row of each run of tied scores: one threshold per distinct score.
        ends = np.r_[np.flatnonzero(np.diff(ranked_scores)), len(ranked_scores) - 1]
        true_positives = np.cumsum(hits)[ends]
        precision = true_positives / (ends + 1)
        recall_steps = np.diff(np.r_[0, true_positives]) / positives
        result[c] = float(np.sum(recall_steps * precision))
    return result


def mean_average_precision(scores, targets):
    """Mean of `average_precision` over the classes that have a positive."""
    per_class = average_precision(scores, targets)
    if np.all(np.isnan(per_class)):
        raise ValueError("`targets` has no positive label in any class: mAP is undefined")
    return float(np.nanmean(per_class))


def _check_scores_targets(scores, targets):
    scores, targets = np.asarray(scores, np.float64), np.asarray(targets)
    if scores.ndim != 2 or targets.shape != scores.shape:
        raise ValueError(f"`scores` and `targets` must both be (N, C), got {scores.shape} and {targets.shape}")
    if not np.all((targets == 0) | (targets == 1)):
        raise ValueError("`targets` must hold only 0 and 1")
    return scores, targets.astype(np.float64)


def one_hot_targets(labels, num_classes=None):
    """int (N,) single labels -> {0, 1} (N, C): a single-label set scored as multi-label."""
    labels = np.asarray(labels, np.int64)
    num_classes = int(labels.max()) + 1 if num_classes is None else num_classes
    return np.eye(num_classes, dtype=np.float32)[labels]


def train_logistic_classifiers(features, targets, l2=1e-4, max_iterations=1000, tolerance=1e-6):
    """Fits C independent logistic regressions jointly with L-BFGS.

    loss = mean over rows of sum over classes of the sigmoid cross-entropy of x W + b,
    + l2 * ||W||^2 (the bias is not penalised).

    Args:
      features: float (N, F); targets: {0, 1} (N, C).
    Returns:
      (W float32 (F, C), b float32 (C,)).
    """
    x = tf.constant(np.asarray(features, np.float32))
    y = tf.constant(np.asarray(targets, np.float32))
    dim, classes = x.shape[1], y.shape[1]

    @tf.function(reduce_retracing=True)
    def loss_and_gradient(theta):
        with tf.GradientTape() as tape:
            tape.watch(theta)
            weights = tf.reshape(theta[:dim * classes], (dim, classes))
            logits = tf.matmul(x, weights) + theta[dim * classes:]
            cross_entropy = tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=logits)
            loss = tf.reduce_mean(tf.reduce_sum(cross_entropy, axis=1)) + l2 * tf.reduce_sum(tf.square(weights))
        return loss, tape.gradient(loss, theta)

    def objective(theta):
        loss, gradient = loss_and_gradient(tf.constant(theta, tf.float32))
        return float(loss), gradient.numpy().astype(np.float64)

    solution = scipy.optimize.minimize(objective, np.zeros(dim * classes + classes), jac=True, method="L-BFGS-B",
                                       options={"maxiter": max_iterations, "gtol": tolerance})
    return (solution.x[:dim * classes].reshape(dim, classes).astype(np.float32),
            solution.x[dim * classes:].astype(np.float32))


def multilabel_linear_probe(train_features, train_targets, test_features, test_targets, l2=None,
                            grid=L2_GRID, seed=0, max_iterations=1000):
    """Per-class logistic regressions on standardised features, scored by test mAP.

    Args:
      train_features, test_features: float (N, F) frozen features.
      train_targets, test_targets: {0, 1} (N, C) multi-hot labels.
      l2: weight of ||W||^2; None picks it from `grid` by mAP on a fixed random
        `VALIDATION_FRACTION` of the training rows, then refits on all of them.
    Returns:
      {"map": test mAP, "l2": the weight used, "validation_map": {l2: mAP} when chosen}.
    """
    train_x, test_x = np.asarray(train_features, np.float32), np.asarray(test_features, np.float32)
    check_features(train_x, "train_features")
    check_features(test_x, "test_features")
    train_y = _check_scores_targets(np.zeros(np.shape(train_targets)), train_targets)[1]
    test_y = _check_scores_targets(np.zeros(np.shape(test_targets)), test_targets)[1]
    if len(train_x) != len(train_y) or len(test_x) != len(test_y):
        raise ValueError(f"features and targets must have the same rows: train {len(train_x)} vs "
                         f"{len(train_y)}, test {len(test_x)} vs {len(test_y)}")
    if train_y.shape[1] != test_y.shape[1]:
        raise ValueError(f"`train_targets` has {train_y.shape[1]} classes, `test_targets` {test_y.shape[1]}")
    scores = {}
    if l2 is None:
        order = np.random.default_rng(seed).permutation(len(train_x))
        held = max(1, int(round(VALIDATION_FRACTION * len(train_x))))
        val, fit = order[:held], order[held:]
        fit_x, val_x = standardize(train_x[fit], train_x[val])
        for candidate in sorted(grid, reverse=True):
            weights, bias = train_logistic_classifiers(fit_x, train_y[fit], candidate, max_iterations)
            if train_y[val].sum() > 0:
                scores[candidate] = mean_average_precision(val_x @ weights + bias, train_y[val])
        best = max(scores.values()) if scores else None
        l2 = next((c for c in sorted(grid, reverse=True) if scores.get(c) == best), sorted(grid)[len(grid) // 2])
    train_x, test_x = standardize(train_x, test_x)
    weights, bias = train_logistic_classifiers(train_x, train_y, l2, max_iterations)
    result = {"map": mean_average_precision(test_x @ weights + bias, test_y), "l2": float(l2)}
    if scores:
        result["validation_map"] = scores
    return result
