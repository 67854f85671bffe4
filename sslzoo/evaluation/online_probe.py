"""A Keras callback that measures a linear probe of the encoder during pre-training."""
import keras
import numpy as np

from sslzoo.evaluation.features import check_labels, extract_features, standardize, top_k_accuracy


def ridge_class_scores(train_features, train_labels, test_features, num_classes, ridge=1e-2):
    """Closed-form ridge regression onto one-hot labels, used as a linear classifier.

    Features are standardised; W = (X^T X + ridge * N * I)^-1 X^T Y with a bias column.

    Args:
      train_features: (N, F); train_labels: int (N,); test_features: (M, F).
    Returns:
      float64 numpy (M, num_classes) class scores.
    """
    train_x, test_x = standardize(np.asarray(train_features, np.float64), np.asarray(test_features, np.float64))
    train_x = np.concatenate([train_x, np.ones((len(train_x), 1))], axis=1)
    test_x = np.concatenate([test_x, np.ones((len(test_x), 1))], axis=1)
    targets = np.eye(num_classes)[train_labels]
    gram = train_x.T @ train_x + ridge * len(train_x) * np.eye(train_x.shape[1])
    weights = np.linalg.solve(gram, train_x.T @ targets)
    return test_x @ weights


class OnlineLinearProbe(keras.callbacks.Callback):
    """Writes `logs["probe_top1"]` at epoch ends: a ridge probe on frozen features.

    The encoder is `self.model.encoder` (sslzoo objectives), else the model itself.
    Features are computed in inference mode (no gradient reaches the model), the
    probe is fitted in closed form, so it costs two forward passes per epoch.

    Args:
      train_images, test_images: raw uint8/float (N, H, W, C) images.
      train_labels, test_labels: int (N,) labels.
      ridge: ridge penalty (relative to N).
      every_n_epochs: probe after the first epoch and every n-th one (the key is
        absent otherwise; the first epoch fixes the columns of a CSVLogger).
      batch_size: images per forward pass.
      max_train_examples: fit the probe on at most this many training images,
        a fixed random subset (None: all). Its forward passes are most of the
        probe's cost.
      name: the logs key.
    """

    def __init__(self, train_images, train_labels, test_images, test_labels, ridge=1e-2,
                 every_n_epochs=1, batch_size=512, max_train_examples=None, name="probe_top1"):
        super().__init__()
        self.train_images = np.asarray(train_images)
        self.test_images = np.asarray(test_images)
        self.train_labels = check_labels(train_labels, len(self.train_images), "train_labels")
        if max_train_examples is not None and max_train_examples < len(self.train_images):
            if max_train_examples < 1:
                raise ValueError(f"`max_train_examples` must be >= 1 or None, got {max_train_examples}")
            keep = np.sort(np.random.RandomState(0).permutation(len(self.train_images))[:max_train_examples])
            self.train_images, self.train_labels = self.train_images[keep], self.train_labels[keep]
        self.test_labels = check_labels(test_labels, len(self.test_images), "test_labels")
        self.num_classes = int(max(self.train_labels.max(), self.test_labels.max())) + 1
        if every_n_epochs < 1:
            raise ValueError(f"`every_n_epochs` must be >= 1, got {every_n_epochs}")
        self.ridge = ridge
        self.every_n_epochs = every_n_epochs
        self.batch_size = batch_size
        self.name = name

    def probe_accuracy(self):
        """Top-1 test accuracy of the probe on the current encoder."""
        encoder = getattr(self.model, "encoder", self.model)
        train_x = extract_features(encoder, self.train_images, self.batch_size)
        test_x = extract_features(encoder, self.test_images, self.batch_size)
        scores = ridge_class_scores(train_x, self.train_labels, test_x, self.num_classes, self.ridge)
        return top_k_accuracy(scores, self.test_labels)["top1"]

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and (epoch == 0 or (epoch + 1) % self.every_n_epochs == 0):
            logs[self.name] = self.probe_accuracy()
