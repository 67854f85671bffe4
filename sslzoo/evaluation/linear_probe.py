"""Linear evaluation: a softmax classifier on frozen, standardised features."""
import keras
import numpy as np

from sslzoo.evaluation.features import labelled_features, standardize, top_k_accuracy


def train_softmax_classifier(features, labels, num_classes, epochs=50, batch_size=256,
                             learning_rate=1e-2, l2=1e-3, seed=0):
    """Fits a Dense softmax classifier with Adam and a cosine-decayed learning rate.

    The objective is mean cross-entropy + l2 * ||W||^2 (sklearn's
    LogisticRegression(C) corresponds to l2 = 1 / (2 * C * N)).

    Args:
      features: float (N, F); labels: int (N,) in [0, num_classes).
    Returns:
      keras.Sequential mapping (B, F) -> logits (B, num_classes).
    """
    steps = epochs * int(np.ceil(len(features) / batch_size))
    classifier = keras.Sequential([
        keras.Input((features.shape[1],)),
        keras.layers.Dense(num_classes, kernel_regularizer=keras.regularizers.L2(l2),
                           kernel_initializer=keras.initializers.Zeros()),
    ])
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps)
    classifier.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    rng = np.random.RandomState(seed)
    order = rng.permutation(len(features))  # Keras shuffles per epoch after this
    classifier.fit(features[order], labels[order], epochs=epochs, batch_size=batch_size,
                   shuffle=True, verbose=0)
    return classifier


def linear_probe(encoder, train_images, train_labels, test_images, test_labels, epochs=50,
                 batch_size=256, learning_rate=1e-2, l2=1e-3, num_classes=None, feature_batch_size=256):
    """Linear evaluation protocol: frozen encoder, features computed once, standardised.

    Args:
      encoder: keras.Model (images float [0, 1] (B, S, S, 3) -> (B, F)), or None
        when the `*_images` arguments are already features (N, F).
      train_images, test_images: raw uint8/float (N, H, W, C) images (or features).
      train_labels, test_labels: int (N,) labels.
      epochs, batch_size, learning_rate, l2: classifier training (Adam, cosine decay).
      num_classes: defaults to 1 + the largest label seen.
    Returns:
      {"top1": float, "top5": float (when classes > 5)}, fractions of the test set.
    """
    train_x, train_y, test_x, test_y, num_classes = labelled_features(
        encoder, train_images, train_labels, test_images, test_labels, feature_batch_size, num_classes)
    train_x, test_x = standardize(train_x, test_x)
    classifier = train_softmax_classifier(train_x, train_y, num_classes, epochs, batch_size,
                                          learning_rate, l2)
    logits = classifier.predict(test_x, batch_size=1024, verbose=0)
    return top_k_accuracy(logits, test_y)
