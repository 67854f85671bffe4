"""Linear evaluation: L2-regularised softmax regression on frozen, standardised features.

The classifier is fitted to convergence with L-BFGS (the protocol of the CLIP
paper's linear probes and of scikit-learn's `LogisticRegression`), the
objective and its gradient computed by TensorFlow (so large feature sets use
the accelerator) and the iterations driven by `scipy.optimize`. The L2 weight
is chosen on a held-out part of the training features, never on the test set.
"""
import keras
import numpy as np
import scipy.optimize
import tensorflow as tf

from sslzoo.data.sampling import label_fraction
from sslzoo.evaluation.features import labelled_features, standardize, top_k_accuracy

# The L2 weights tried when `l2=None` (sklearn's C = 1 / (2 * l2 * N)).
L2_GRID = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)
VALIDATION_FRACTION = 0.2


def softmax_regression_objective(features, labels, num_classes, l2):
    """f(theta) -> (loss, gradient) for L-BFGS, float64 numpy in and out.

    loss = mean cross-entropy of softmax(x W + b) + l2 * ||W||^2 (the bias is
    not penalised); theta is W (F, C) flattened, then b (C,).
    """
    x = tf.constant(features, tf.float32)
    y = tf.constant(labels, tf.int32)
    dim = features.shape[1]

    @tf.function(reduce_retracing=True)
    def loss_and_gradient(theta):
        with tf.GradientTape() as tape:
            tape.watch(theta)
            weights = tf.reshape(theta[:dim * num_classes], (dim, num_classes))
            bias = theta[dim * num_classes:]
            cross_entropy = tf.nn.sparse_softmax_cross_entropy_with_logits(y, tf.matmul(x, weights) + bias)
            loss = tf.reduce_mean(cross_entropy) + l2 * tf.reduce_sum(tf.square(weights))
        return loss, tape.gradient(loss, theta)

    def objective(theta):
        loss, gradient = loss_and_gradient(tf.constant(theta, tf.float32))
        return float(loss), gradient.numpy().astype(np.float64)

    return objective


def train_softmax_classifier(features, labels, num_classes, l2=1e-4, max_iterations=1000, tolerance=1e-6):
    """Fits softmax regression with L-BFGS until the gradient norm falls below `tolerance`.

    Args:
      features: float (N, F); labels: int (N,) in [0, num_classes).
      l2: weight of ||W||^2 beside the mean cross-entropy.
      max_iterations: L-BFGS iteration cap.
    Returns:
      keras.Sequential mapping (B, F) -> logits (B, num_classes).
    """
    features = np.asarray(features, np.float32)
    dim = features.shape[1]
    objective = softmax_regression_objective(features, labels, num_classes, l2)
    solution = scipy.optimize.minimize(
        objective, np.zeros(dim * num_classes + num_classes), jac=True, method="L-BFGS-B",
        options={"maxiter": max_iterations, "gtol": tolerance},
    )
    classifier = keras.Sequential([keras.Input((dim,)), keras.layers.Dense(num_classes)])
    classifier.layers[0].set_weights([
        solution.x[:dim * num_classes].reshape(dim, num_classes).astype(np.float32),
        solution.x[dim * num_classes:].astype(np.float32),
    ])
    return classifier


def select_l2(features, labels, num_classes, grid=L2_GRID, validation_fraction=VALIDATION_FRACTION, seed=0,
              max_iterations=1000):
    """The L2 weight from `grid` with the best top-1 on a held-out part of the training features.

    A fixed random `validation_fraction` of each class is held out
    (`sslzoo.data.label_fraction`); ties go to the larger weight. When some class
    is too small to give a held-out row, or fewer than 10 rows are held out,
    there is nothing to choose on: the middle of the grid is returned with no
    scores. Returns (l2, {l2: validation top-1}).
    """
    ordered = sorted(grid, reverse=True)
    labels = np.asarray(labels)
    try:
        val = label_fraction(labels, validation_fraction, seed)
    except ValueError:  # a class would hold out no row
        val = np.zeros((0,), np.int64)
    if len(val) < 10:
        return ordered[len(ordered) // 2], {}
    fit = np.setdiff1d(np.arange(len(labels)), val)
    fit_x, val_x = standardize(features[fit], features[val])
    scores = {}
    for l2 in ordered:
        classifier = train_softmax_classifier(fit_x, labels[fit], num_classes, l2, max_iterations)
        scores[l2] = top_k_accuracy(classifier(val_x).numpy(), labels[val])["top1"]
    best = max(scores.values())
    return next(l2 for l2 in ordered if scores[l2] == best), scores


def linear_probe(encoder, train_images, train_labels, test_images, test_labels, l2=None,
                 num_classes=None, feature_batch_size=256, max_iterations=1000):
    """Linear evaluation protocol: frozen encoder, features computed once, standardised.

    Args:
      encoder: keras.Model (images float [0, 1] (B, S, S, 3) -> (B, F)), or None
        when the `*_images` arguments are already features (N, F).
      train_images, test_images: raw uint8/float (N, H, W, C) images (or features).
      train_labels, test_labels: int (N,) labels.
      l2: weight of ||W||^2; None chooses it from `L2_GRID` on 20% of the
        training features held out (`select_l2`), then refits on all of them.
      num_classes: defaults to 1 + the largest label seen.
      max_iterations: L-BFGS iteration cap.
    Returns:
      {"top1": float, "top5": float (when classes > 5), "l2": the weight used},
      accuracies as fractions of the test set.
    """
    train_x, train_y, test_x, test_y, num_classes = labelled_features(
        encoder, train_images, train_labels, test_images, test_labels, feature_batch_size, num_classes)
    if l2 is None:
        l2, _ = select_l2(train_x, train_y, num_classes, max_iterations=max_iterations)
    train_x, test_x = standardize(train_x, test_x)
    classifier = train_softmax_classifier(train_x, train_y, num_classes, l2, max_iterations)
    logits = classifier.predict(test_x, batch_size=4096, verbose=0)
    return {**top_k_accuracy(logits, test_y), "l2": float(l2)}
