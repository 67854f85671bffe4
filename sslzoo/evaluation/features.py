"""Frozen-encoder features and the shared helpers of the evaluation protocols."""
import numpy as np
import tensorflow as tf

from sslzoo.preprocessing import eval_images


def encoder_image_size(encoder):
    """The input side S of an encoder taking (B, S, S, 3) images."""
    shape = encoder.input_shape
    if isinstance(shape, list):
        shape = shape[0]
    if len(shape) != 4 or shape[1] is None:
        raise ValueError(f"`encoder` must take (batch, S, S, 3) images with a fixed S, got input shape {shape}")
    return int(shape[1])


def extract_features(encoder, images, batch_size=256):
    """Runs a frozen encoder (inference mode) over raw images.

    Args:
      encoder: keras.Model, float [0, 1] images (B, S, S, 3) -> (B, F).
      images: uint8 or float (N, H, W, C), C in {1, 3}, any H, W; resized to S
        with `sslzoo.preprocessing.eval_images`.
      batch_size: images per forward pass.
    Returns:
      float32 numpy (N, F).
    """
    size = encoder_image_size(encoder)
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"`images` must be (N, H, W, C), got shape {images.shape}")
    if len(images) == 0:
        raise ValueError(f"`images` must hold at least one image, got shape {images.shape}")
    outputs = []
    for start in range(0, len(images), batch_size):
        batch = eval_images(images[start:start + batch_size], size)
        features = encoder(batch, training=False)
        if features.shape.rank != 2:
            raise ValueError(f"encoder output must be (batch, features), got shape {tuple(features.shape)}")
        outputs.append(tf.cast(features, tf.float32).numpy())
    return np.concatenate(outputs, axis=0)


def features_of(encoder, images, batch_size=256):
    """Encoder features of `images`, or `images` themselves (N, F) when encoder is None."""
    if encoder is None:
        features = np.asarray(images, np.float32)
        if features.ndim != 2:
            raise ValueError(f"with encoder=None the inputs must be features (N, F), got shape {features.shape}")
        return features
    return extract_features(encoder, images, batch_size)


def standardize(train_features, *others, eps=1e-6):
    """Zero mean, unit variance per feature, with statistics of the training features.

    Args:
      train_features: (N, F); others: any (M, F) arrays.
    Returns:
      list of the standardised arrays, train first.
    """
    mean = train_features.mean(axis=0)
    std = train_features.std(axis=0) + eps
    return [(x - mean) / std for x in (train_features, *others)]


def check_labels(labels, count, name, num_classes=None):
    """labels -> int64 (count,), or ValueError naming the argument.

    With `num_classes`, every label must lie in [0, num_classes): a label outside
    would silently vote for no class (kNN) or index another class (scores[-1]).
    """
    labels = np.asarray(labels)
    if labels.shape != (count,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"`{name}` must be integer labels of shape ({count},), got {labels.dtype} {labels.shape}")
    if num_classes is not None and count:
        outside = (labels < 0) | (labels >= num_classes)
        if outside.any():
            raise ValueError(f"`{name}` must lie in [0, {num_classes}) (num_classes={num_classes}); "
                             f"{int(outside.sum())} of {count} do not, e.g. {int(labels[outside][0])} at index "
                             f"{int(np.flatnonzero(outside)[0])}")
    return labels.astype(np.int64)


def check_features(features, name):
    """Raises ValueError naming `name` when `features` (N, F) is empty or holds NaN or infinity."""
    if len(features) == 0:
        raise ValueError(f"`{name}` must hold at least one example, got none (shape {features.shape})")
    finite = np.isfinite(features).all(axis=1)
    if not finite.all():
        raise ValueError(f"`{name}` gives non-finite features (NaN or infinity) for {int((~finite).sum())} of "
                         f"{len(features)} examples, e.g. index {int(np.flatnonzero(~finite)[0])}")


def top_k_accuracy(scores, labels):
    """Top-1 (and top-5 when there are more than 5 classes) accuracy of class scores.

    Args:
      scores: (N, C) class scores (higher is better).
      labels: int (N,) true classes.
    Returns:
      {"top1": float} plus "top5" when C > 5; fractions in [0, 1].
    """
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    true_score = scores[np.arange(len(labels)), labels]
    # Classes ahead of the truth; ties go to the lower class index, as in argmax.
    ahead = scores > true_score[:, None]
    tied_before = (scores == true_score[:, None]) & (np.arange(scores.shape[1]) < labels[:, None])
    rank = (ahead | tied_before).sum(axis=1)
    result = {"top1": float(np.mean(rank < 1))}
    if scores.shape[1] > 5:
        result["top5"] = float(np.mean(rank < 5))
    return result


def labelled_features(encoder, train_images, train_labels, test_images, test_labels, batch_size=256,
                      num_classes=None):
    """Features and checked labels of a train/test split, for the frozen-encoder protocols.

    Returns:
      (train_x (N, F), train_y (N,), test_x (M, F), test_y (M,), num_classes),
      num_classes defaulting to 1 + the largest label seen.
    """
    train_x = features_of(encoder, train_images, batch_size)
    test_x = features_of(encoder, test_images, batch_size)
    check_features(train_x, "train_images")
    check_features(test_x, "test_images")
    train_y = check_labels(train_labels, len(train_x), "train_labels")
    test_y = check_labels(test_labels, len(test_x), "test_labels")
    if num_classes is None:
        num_classes = int(max(train_y.max(), test_y.max())) + 1
    if int(num_classes) != num_classes or num_classes < 1:
        raise ValueError(f"`num_classes` must be a positive int, got {num_classes!r}")
    num_classes = int(num_classes)
    check_labels(train_y, len(train_y), "train_labels", num_classes)
    check_labels(test_y, len(test_y), "test_labels", num_classes)
    return train_x, train_y, test_x, test_y, num_classes
