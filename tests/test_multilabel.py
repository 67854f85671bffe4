"""sslzoo.evaluation.multilabel: AP by hand and against scikit-learn, the per-class logistic
probe against scikit-learn's optimum, and mAP of multi-hot labels (AudioSet style)."""
import numpy as np
import pytest

from sslzoo.evaluation import multilabel


def test_average_precision_hand_case():
    # Ranked: +, -, +, - -> precision at the two hits 1/1 and 2/3: AP = (1 + 2/3) / 2.
    scores = np.array([[0.9], [0.8], [0.7], [0.1]])
    targets = np.array([[1], [0], [1], [0]])
    np.testing.assert_allclose(multilabel.average_precision(scores, targets), [(1 + 2 / 3) / 2], rtol=0, atol=1e-15)


def test_average_precision_matches_sklearn_with_ties_and_empty_classes():
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(0)
    scores = np.round(rng.normal(size=(200, 6)), 1)  # rounding makes many ties
    targets = (rng.random((200, 6)) < 0.2).astype(int)
    targets[:, 5] = 0  # no positive: left out of the mean
    per_class = multilabel.average_precision(scores, targets)
    for c in range(5):
        # Both compute sum (R_n - R_(n-1)) P_n over distinct thresholds in float64.
        np.testing.assert_allclose(per_class[c], average_precision_score(targets[:, c], scores[:, c]),
                                   rtol=0, atol=1e-12)
    assert np.isnan(per_class[5])
    np.testing.assert_allclose(multilabel.mean_average_precision(scores, targets), per_class[:5].mean(), atol=1e-15)


def test_bad_targets_are_named():
    with pytest.raises(ValueError, match="`scores` and `targets` must both be"):
        multilabel.average_precision(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="only 0 and 1"):
        multilabel.average_precision(np.zeros((3, 2)), np.full((3, 2), 2))
    with pytest.raises(ValueError, match="no positive"):
        multilabel.mean_average_precision(np.zeros((3, 2)), np.zeros((3, 2)))


def _logistic_loss(weights, bias, x, y, l2):
    """Mean over rows of the summed sigmoid cross-entropies + l2 ||W||^2, float64 numpy."""
    logits = x.astype(np.float64) @ weights + bias
    per_entry = np.maximum(logits, 0) - logits * y + np.log1p(np.exp(-np.abs(logits)))
    return per_entry.sum(axis=1).mean() + l2 * np.sum(weights ** 2)


def test_logistic_classifiers_reach_sklearn_optimum():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 8)).astype(np.float32)
    true = rng.normal(size=(8, 3))
    y = (x @ true + 0.5 * rng.normal(size=(300, 3)) > 0).astype(np.float32)
    l2 = 1e-3
    weights, bias = multilabel.train_logistic_classifiers(x, y, l2)
    # Per class, sklearn minimises 0.5 ||w||^2 + C sum_n BCE_n; divided by C N that is our
    # per-class term with l2 = 1 / (2 C N).
    reference_w = np.zeros((8, 3))
    reference_b = np.zeros(3)
    for c in range(3):
        model = LogisticRegression(C=1.0 / (2 * l2 * len(x)), max_iter=5000, tol=1e-10).fit(x, y[:, c])
        reference_w[:, c], reference_b[c] = model.coef_[0], model.intercept_[0]
    ours = _logistic_loss(weights, bias, x, y, l2)
    reference = _logistic_loss(reference_w, reference_b, x, y, l2)
    # L-BFGS stops at a gradient norm of 1e-6 in float32: within 1e-5 of the optimum's loss.
    assert ours <= reference + 1e-5, (ours, reference)


def test_multilabel_probe_separable_and_shuffled():
    rng = np.random.default_rng(2)
    centres = 4.0 * np.eye(4, 12)

    def make(n):
        targets = (rng.random((n, 4)) < 0.4).astype(np.float32)
        targets[targets.sum(axis=1) == 0, 0] = 1
        return (targets @ centres + 0.3 * rng.normal(size=(n, 12))).astype(np.float32), targets

    train_x, train_y = make(300)
    test_x, test_y = make(200)
    result = multilabel.multilabel_linear_probe(train_x, train_y, test_x, test_y)
    assert result["map"] > 0.99 and result["l2"] in multilabel.L2_GRID and result["validation_map"]
    shuffled = rng.permutation(train_y)
    # Labels unrelated to the features: AP near each class's positive rate (~0.4-0.55).
    assert multilabel.multilabel_linear_probe(train_x, shuffled, test_x, test_y)["map"] < 0.7
    with pytest.raises(ValueError, match="same rows"):
        multilabel.multilabel_linear_probe(train_x[:-1], train_y, test_x, test_y)
