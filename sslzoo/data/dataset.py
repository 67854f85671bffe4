"""One entry point for every image classification source: `load` and `as_dataset`."""
import dataclasses

import numpy as np
import tensorflow as tf

from sslzoo.data import bundled_digits
from sslzoo.data import tfds_source


@dataclasses.dataclass(frozen=True)
class ImageDataset:
    """A small image classification set held in memory.

    Attributes:
      images: uint8 (N, H, W, C) numpy array.
      labels: int64 (N,) numpy array in [0, num_classes).
      num_classes: number of classes.
      class_names: list of num_classes strings.
    """

    images: np.ndarray
    labels: np.ndarray
    num_classes: int
    class_names: list

    def __post_init__(self):
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise ValueError(
                f"`images` must be uint8 (N, H, W, C), got {self.images.dtype} {self.images.shape}"
            )
        if self.labels.shape != (len(self.images),):
            raise ValueError(
                f"`labels` must have shape ({len(self.images)},), got {self.labels.shape}"
            )

    def __len__(self):
        return len(self.images)


def as_dataset(name, split, data_dir=None, download=False):
    """Any supported source as an unbatched tf.data.Dataset of (image uint8, label int64).

    Args:
      name: "digits" (bundled, no network) or a tensorflow-datasets name.
      split: "train", "test" (and "all" for digits), or a tfds split string.
      data_dir: tfds data directory (ignored for digits).
      download: let tfds download and prepare a missing dataset.
    Returns:
      tf.data.Dataset of (uint8 (H, W, C), int64 ()).
    """
    if name == "digits":
        images, labels = bundled_digits.digits(split)
        return tf.data.Dataset.from_tensor_slices((images, labels))
    return tfds_source.tfds_dataset(name, split, data_dir=data_dir, download=download)


def load(name, split, data_dir=None, download=False, max_examples=None):
    """Loads a (small) image classification split into memory.

    Args:
      name: "digits" (bundled) or a tensorflow-datasets name, e.g. "cifar10".
      split: "train", "test" (and "all" for digits), or a tfds split string.
      data_dir: tfds data directory (ignored for digits).
      download: let tfds download and prepare a missing dataset.
      max_examples: keep only the first `max_examples` examples (None: all).
    Returns:
      ImageDataset with images uint8 (N, H, W, C) and labels int64 (N,).
      All images of a tfds split must share one shape.
    """
    if name == "digits":
        images, labels = bundled_digits.digits(split)
        names = list(bundled_digits.CLASS_NAMES)
    else:
        dataset, builder = tfds_source.open_tfds(name, split, data_dir, download)
        if max_examples is not None:
            dataset = dataset.take(max_examples)
        pairs = list(dataset.as_numpy_iterator())
        if not pairs:
            raise ValueError(f"Dataset {name!r} split {split!r} has no examples")
        images = np.stack([image for image, _ in pairs]).astype(np.uint8)
        labels = np.asarray([label for _, label in pairs], np.int64)
        names = tfds_source.class_names(builder)
    if max_examples is not None:
        images, labels = images[:max_examples], labels[:max_examples]
    if names is None:
        names = [str(c) for c in range(int(labels.max()) + 1)]
    return ImageDataset(images, labels, len(names), list(names))
