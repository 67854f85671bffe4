"""tensorflow-datasets image classification datasets as tf.data pipelines."""
import re

import tensorflow as tf

KNOWN_EXAMPLES = ("digits", "mnist", "cifar10", "cifar100", "stl10", "imagenet2012", "oxford_flowers102")


def _builder(name, data_dir):
    import tensorflow_datasets as tfds

    try:
        return tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise ValueError(
            f"Unknown dataset name {name!r}: expected `digits` or a tensorflow-datasets image "
            f"classification dataset, e.g. {', '.join(KNOWN_EXAMPLES)}"
        ) from None


def _split_names(split):
    """Base split names in a tfds split string: "train[:10%]+test" -> ["train", "test"]."""
    return [part.split("[")[0].strip() for part in re.split(r"\+", split)]


def _check_split(name, split, builder):
    available = sorted(builder.info.splits.keys())
    if not available:  # not prepared (or mocked): tfds itself reports what is missing
        return
    for base in _split_names(split):
        if base not in available:
            raise ValueError(
                f"Dataset {name!r} has no split {base!r} (from split={split!r}); "
                f"available splits: {', '.join(available)}"
            )


def _keys(builder):
    """(image_key, label_key) of a classification dataset's features."""
    keys = builder.info.supervised_keys
    if keys and len(keys) == 2 and all(isinstance(k, str) for k in keys):
        return keys
    return "image", "label"


def class_names(builder):
    """Names of the label feature's classes, or None if it has none."""
    _, label_key = _keys(builder)
    feature = builder.info.features[label_key]
    return list(feature.names) if hasattr(feature, "names") else None


def open_tfds(name, split, data_dir=None, download=False, shuffle_files=False):
    """A tensorflow-datasets image classification split and its builder.

    Nothing is downloaded unless `download=True`; otherwise the dataset must
    already be prepared under `data_dir` (tfds' default directory if None).

    Args:
      name: tfds name, e.g. "cifar10", "stl10", "imagenet2012".
      split: tfds split string, e.g. "train", "test", "train[:10%]".
      data_dir: where the prepared dataset lives (or goes, with download=True).
      download: download and prepare the dataset if it is not there yet.
      shuffle_files: passed to tfds (file order shuffling for training).
    Returns:
      (dataset, builder): an unbatched tf.data.Dataset of (image uint8 (H, W, C),
      label int64 ()) and the tfds builder (its `.info` describes the data).
    """
    builder = _builder(name, data_dir)
    if download:
        builder.download_and_prepare()
    _check_split(name, split, builder)
    image_key, label_key = _keys(builder)
    try:
        records = builder.as_dataset(split=split, shuffle_files=shuffle_files)
    except AssertionError as err:
        raise ValueError(
            f"Dataset {name!r} is not prepared in data_dir={builder.data_dir!r} and "
            f"download=False: pass download=True or prepare it with tfds first ({err})"
        ) from None
    dataset = records.map(
        lambda r: (tf.cast(r[image_key], tf.uint8), tf.cast(r[label_key], tf.int64)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return dataset, builder


def tfds_dataset(name, split, data_dir=None, download=False, shuffle_files=False):
    """A tensorflow-datasets image classification dataset as (image, label) pairs.

    Arguments as in `open_tfds`.
    Returns:
      unbatched tf.data.Dataset of (image uint8 (H, W, C), label int64 ()), with
      attribute `class_names` (list of str, or None when labels have no names).
    """
    dataset, builder = open_tfds(name, split, data_dir, download, shuffle_files)
    dataset.class_names = class_names(builder)
    return dataset
