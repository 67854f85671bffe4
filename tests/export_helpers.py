"""Shared pieces of the export tests: a tiny encoder trained on real digits, a fake
SSL objective, and independent checks (cosine similarity, pickle scan)."""
import os

import numpy as np

IMAGE_SIZE = 16
EMBEDDING_DIM = 12
PROJECTION_DIM = 6
L2 = 1e-3
PICKLE_HEADERS = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")


def digits_rgb(digits, count, offset=0):
    """Raw uint8 digits (count, 28, 28, 3) and their labels."""
    images, labels = digits
    gray = images[offset:offset + count]
    return np.repeat(gray[..., None], 3, axis=-1), labels[offset:offset + count]


def tiny_encoder():
    """Conv/BN/Dense encoder: float32 (B, 16, 16, 3) in [0, 1] -> h (B, 12)."""
    import keras

    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3), name="images")
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(inputs)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False)(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(
        EMBEDDING_DIM, kernel_regularizer=keras.regularizers.L2(L2), name="embedding"
    )(x)
    return keras.Model(inputs, outputs, name="tiny_encoder")


def train_tiny_encoder(digits, steps=12, batch_size=64):
    """A tiny encoder trained a few steps (digit classification) so BN statistics move."""
    import keras

    from sslzoo.preprocessing import eval_images

    encoder = tiny_encoder()
    classifier = keras.Sequential([encoder, keras.layers.Dense(10)])
    images, labels = digits_rgb(digits, steps * batch_size)
    x = eval_images(images, IMAGE_SIZE).numpy()
    classifier.compile(keras.optimizers.Adam(1e-2),
                       keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    classifier.fit(x, labels, batch_size=batch_size, epochs=1, verbose=0)
    return encoder


class FakeObjective:
    """Stands in for an SSL objective: `.encoder` and a projection head `.projector`."""

    def __init__(self, encoder):
        import keras

        self.encoder = encoder
        self.projector = keras.Sequential(
            [keras.Input((EMBEDDING_DIM,)), keras.layers.Dense(PROJECTION_DIM)], name="projector"
        )


def cosine_similarity(a, b):
    """Row-wise cosine similarity of two (B, F) arrays, in numpy."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def pickled_files(folder):
    """Files under `folder` that are pickles: a .pkl name, a pickle protocol header,
    or a keras_metadata file (the Keras 2 SavedModel's Python metadata)."""
    found = []
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                head = f.read(2)
            if name.endswith((".pkl", ".pickle")) or "keras_metadata" in name or head in PICKLE_HEADERS:
                found.append(path)
    return found
