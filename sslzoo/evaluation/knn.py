"""Weighted k-nearest-neighbour evaluation (InstDisc / solo-learn protocol)."""
import numpy as np
import tensorflow as tf

from sslzoo.evaluation.features import labelled_features, top_k_accuracy


def knn_class_scores(train_features, train_labels, test_features, num_classes, k=20,
                     temperature=0.07, chunk_size=512):
    """Class scores of a temperature-weighted cosine kNN vote.

    For each test feature, its k most cosine-similar training features vote for
    their class with weight exp(similarity / temperature).

    Args:
      train_features: (N, F); train_labels: int (N,); test_features: (M, F).
    Returns:
      float32 numpy (M, num_classes) summed vote weights.
    """
    if not 1 <= k <= len(train_features):
        raise ValueError(f"`k` must be in [1, {len(train_features)}] (training set size), got {k}")
    train = tf.math.l2_normalize(tf.constant(train_features, tf.float32), axis=1)
    labels = tf.constant(train_labels, tf.int64)
    scores = []
    for start in range(0, len(test_features), chunk_size):
        test = tf.math.l2_normalize(tf.constant(test_features[start:start + chunk_size], tf.float32), axis=1)
        similarity = tf.matmul(test, train, transpose_b=True)  # (m, N)
        top_similarity, top_index = tf.math.top_k(similarity, k=k)  # (m, k)
        weights = tf.exp(top_similarity / temperature)
        votes = tf.one_hot(tf.gather(labels, top_index), num_classes)  # (m, k, C)
        scores.append(tf.reduce_sum(votes * weights[..., None], axis=1).numpy())
    return np.concatenate(scores, axis=0)


def knn(encoder, train_images, train_labels, test_images, test_labels, k=20, temperature=0.07,
        num_classes=None, batch_size=256):
    """kNN evaluation of frozen features: cosine similarity, exp(sim / T)-weighted vote.

    Args:
      encoder: keras.Model (images float [0, 1] (B, S, S, 3) -> (B, F)), or None
        when the `*_images` arguments are already features (N, F).
      train_images, test_images: raw uint8/float (N, H, W, C) images (or features).
      train_labels, test_labels: int (N,) labels.
      k: neighbours per query; temperature: T of the vote weights.
      num_classes: defaults to 1 + the largest label seen.
    Returns:
      {"top1": float, "top5": float (when classes > 5)}.
    """
    train_x, train_y, test_x, test_y, num_classes = labelled_features(
        encoder, train_images, train_labels, test_images, test_labels, batch_size, num_classes)
    scores = knn_class_scores(train_x, train_y, test_x, num_classes, k, temperature)
    return top_k_accuracy(scores, test_y)
