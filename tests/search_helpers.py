"""Shared pieces of the search tests: a tiny image/text encoder trained here, exported with
the per-modality signatures (`image`, `text` -> `features`, `joint`), and a digit folder."""
import os

import numpy as np

WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
PER_CLASS = 30


def train_linear_digits(ridge=10.0):
    """Ridge regression of one-hot labels on 28x28 train digits: (W (784, 10), b (10,))."""
    from sslzoo.data.bundled_digits import digits

    images, labels = digits("train")
    x = images.reshape(len(images), -1).astype(np.float64) / 255.0
    x = np.concatenate([x, np.ones((len(x), 1))], axis=1)
    y = np.eye(10)[labels]
    w = np.linalg.solve(x.T @ x + ridge * np.eye(x.shape[1]), x.T @ y)
    return w[:-1].astype(np.float32), w[-1].astype(np.float32)


def make_text_image_module(weights, bias, scale=8.0):
    """A tf.Module with `image` (uint8 (B, H, W, C) any size) and `text` (tf.string (B,)).

    image -> grey 28x28 in [0, 1] -> linear scores -> features (B, 10), joint = unit softmax(scale * scores);
    text -> one-hot of the first digit word or numeral it names (features = joint, (B, 10)).
    """
    import tensorflow as tf

    class TinyClip(tf.Module):
        def __init__(self):
            super().__init__()
            self.w = tf.Variable(weights, name="w")
            self.b = tf.Variable(bias, name="b")

        @tf.function(input_signature=[tf.TensorSpec([None, None, None, None], tf.uint8, name="image")])
        def image(self, image):
            x = tf.cast(image, tf.float32) / 255.0
            x = tf.reduce_mean(x, axis=-1, keepdims=True)
            x = tf.image.resize(x, (28, 28), antialias=True)
            scores = tf.reshape(x, (-1, 784)) @ self.w + self.b
            joint = tf.math.l2_normalize(tf.nn.softmax(scale * scores), axis=-1)
            return {"features": scores, "joint": joint}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def text(self, text):
            lower = tf.strings.lower(text)
            hits = [tf.strings.regex_full_match(lower, f".*\\b({word}|{digit})\\b.*")
                    for digit, word in enumerate(WORDS)]
            onehot = tf.cast(tf.stack(hits, axis=1), tf.float32)
            joint = tf.math.l2_normalize(onehot + 1e-6, axis=-1)
            return {"features": onehot, "joint": joint}

    return TinyClip()


def export_text_image_encoder(path, weights=None, bias=None):
    """Writes the tiny two-signature SavedModel to `path`; returns the path."""
    import tensorflow as tf

    if weights is None:
        weights, bias = train_linear_digits()
    module = make_text_image_module(weights, bias)
    tf.saved_model.save(module, str(path), signatures={"image": module.image, "text": module.text})
    return str(path)


def write_digit_folder(root, per_class=PER_CLASS, offset=0):
    """Test digits as PNG files root/<label>/<n>.png; returns {label: [paths]}."""
    import tensorflow as tf

    from sslzoo.data.bundled_digits import digits

    images, labels = digits("test")
    paths = {}
    for label in range(10):
        folder = os.path.join(root, str(label))
        os.makedirs(folder, exist_ok=True)
        for n, row in enumerate(np.flatnonzero(labels == label)[offset:offset + per_class]):
            path = os.path.join(folder, f"{n:03d}.png")
            with open(path, "wb") as f:
                f.write(tf.io.encode_png(images[row]).numpy())
            paths.setdefault(label, []).append(path)
    return paths


def precision_at_k(results, label, k=10):
    """Fraction of the first k results whose "label" is `label` (as a string)."""
    return float(np.mean([r["label"] == str(label) for r in results[:k]]))
