"""Fine-tuning evaluation: a copy of the encoder trained end to end with a linear head."""
import keras
import numpy as np
import tensorflow as tf

from sslzoo.data.sampling import label_fraction as balanced_subset
from sslzoo.evaluation.features import check_labels, encoder_image_size, top_k_accuracy
from sslzoo.preprocessing import eval_images


def clone_encoder(encoder):
    """A copy of `encoder` with the same weights and no shared variables."""
    copy = keras.models.clone_model(encoder)
    copy.set_weights(encoder.get_weights())
    return copy


def _batches(images, labels, size, batch_size, shuffle_seed=None):
    """(uint8/float images, labels) -> tf.data of (float [0, 1] (B, S, S, 3), labels)."""
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(images), seed=shuffle_seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    return dataset.map(lambda x, y: (eval_images(x, size), y), num_parallel_calls=tf.data.AUTOTUNE)


def fine_tune(encoder, train_images, train_labels, test_images, test_labels, epochs=10,
              learning_rate=1e-3, label_fraction=None, augment=None, batch_size=64,
              num_classes=None, seed=0):
    """Fine-tuning protocol: encoder + linear classifier trained end to end with Adam.

    The caller's encoder is not modified: a clone with copied weights is trained.

    Args:
      encoder: keras.Model, float [0, 1] images (B, S, S, 3) -> (B, F).
      train_images, test_images: raw uint8/float (N, H, W, C) images.
      train_labels, test_labels: int (N,) labels.
      epochs, learning_rate, batch_size: training of the whole network.
      label_fraction: train on a class-balanced fraction of the labels (e.g. 0.01,
        0.1; see `sslzoo.data.label_fraction`), or None for all of them.
      augment: optional callable on float [0, 1] batches (B, S, S, 3) -> (B, S, S, 3),
        applied to training batches only.
      num_classes: defaults to 1 + the largest label seen.
      seed: seed of the label subset and of the shuffling.
    Returns:
      {"top1": float, "top5": float (when classes > 5)} on the test images.
    """
    size = encoder_image_size(encoder)
    train_images, test_images = np.asarray(train_images), np.asarray(test_images)
    train_y = check_labels(train_labels, len(train_images), "train_labels")
    test_y = check_labels(test_labels, len(test_images), "test_labels")
    if not len(train_y) or not len(test_y):
        raise ValueError(f"`train_images` and `test_images` must hold at least one image each, got "
                         f"{len(train_y)} and {len(test_y)}")
    if num_classes is None:
        num_classes = int(max(train_y.max(), test_y.max())) + 1
    check_labels(train_y, len(train_y), "train_labels", num_classes)
    check_labels(test_y, len(test_y), "test_labels", num_classes)
    if label_fraction is not None:
        keep = balanced_subset(train_y, label_fraction, seed=seed)
        train_images, train_y = train_images[keep], train_y[keep]

    inputs = keras.Input((size, size, 3))
    logits = keras.layers.Dense(num_classes, name="classifier")(clone_encoder(encoder)(inputs))
    model = keras.Model(inputs, logits)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    train_data = _batches(train_images, train_y, size, batch_size, shuffle_seed=seed)
    if augment is not None:
        train_data = train_data.map(lambda x, y: (augment(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    model.fit(train_data.prefetch(tf.data.AUTOTUNE), epochs=epochs, shuffle=False, verbose=0)
    test_data = _batches(test_images, test_y, size, 256).map(lambda x, y: x)
    return top_k_accuracy(model.predict(test_data, verbose=0), test_y)
