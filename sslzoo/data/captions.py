"""Image-caption pairs for image-text objectives (CLIP): caption files, tfds, and captioned digits.

Every source yields batches `{"image": float32 (B, S, S, 3) in [0, 1], "text": int32 (B, L)}`
(resized with `sslzoo.preprocessing.eval_images`, tokenised by a `sslzoo.text.Tokenizer`
inside tf.data), or, with `tokenizer=None`, the raw captions as tf.string (B,).

- `caption_file_dataset(path, ...)`: a CSV (header `image_path,caption`) or JSONL
  (`{"image_path": ..., "caption": ...}` per line) file; paths relative to the file.
- `tfds_caption_dataset(name, split, ...)`: a tensorflow-datasets dataset with an
  image feature and a text feature.
- `digit_caption_dataset(split, ...)`: the bundled digits, each with a caption made
  from a template ("a handwritten {}.") and its class name; `HELD_OUT_TEMPLATES`
  never appear in training and are kept for zero-shot evaluation.
"""
import csv
import json
import os

import numpy as np
import tensorflow as tf

from sslzoo.augment import views
from sslzoo.data import pipeline
from sslzoo.data.bundled_digits import digits
from sslzoo.data.image_bytes import whole_png_or_jpeg
from sslzoo.preprocessing import eval_images

DIGIT_CLASS_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
TRAIN_TEMPLATES = (
    "a handwritten {}.",
    "the number {} written by hand.",
    "a drawing of the digit {}.",
    "a photo of the number {}.",
    "a scanned image of a {}.",
    "the digit {}.",
    "a black and white picture of a {}.",
    "someone wrote the number {}.",
)
HELD_OUT_TEMPLATES = (
    "a picture of a handwritten {}.",
    "this is the digit {}.",
    "an image of the number {}.",
)


def _check_templates(templates):
    templates = tuple(templates)
    if not templates or not all(isinstance(t, str) and "{}" in t for t in templates):
        raise ValueError(f"`templates` must be a non-empty sequence of strings containing '{{}}', got {templates!r}")
    return templates


def digit_captions(labels, templates, seed=0, numeral_fraction=0.0):
    """One caption per label: a random template filled with the class name (or the numeral).

    Args:
      labels: int (N,) digits 0..9.
      templates: strings containing "{}".
      seed: numpy seed of the template and name choices.
      numeral_fraction: fraction of captions that use "7" instead of "seven".
    Returns:
      list of N strings.
    """
    templates = _check_templates(templates)
    labels = np.asarray(labels, np.int64)
    rng = np.random.default_rng(seed)
    chosen = rng.integers(0, len(templates), len(labels))
    numeral = rng.random(len(labels)) < numeral_fraction
    return [templates[t].format(str(y) if n else DIGIT_CLASS_NAMES[y]) for y, t, n in zip(labels, chosen, numeral)]


def _caption_table(templates):
    """Every caption as tf.string (C, 2, T): [class, 0 name / 1 numeral, template]."""
    names = [DIGIT_CLASS_NAMES, tuple(str(d) for d in range(len(DIGIT_CLASS_NAMES)))]
    return tf.constant([[[t.format(n[c]) for t in templates] for n in names] for c in range(len(DIGIT_CLASS_NAMES))])


def digit_caption_dataset(split="train", tokenizer=None, batch_size=128, image_size=28,
                          templates=TRAIN_TEMPLATES, numeral_fraction=0.25, shuffle=True, seed=0,
                          drop_remainder=True, limit=None, endless=False):
    """Captioned bundled digits; a caption is drawn afresh for every image in every epoch.

    Args:
      split: "train" (4,000), "test" (1,000) or "all" (see `sslzoo.data.digits`).
      tokenizer: `sslzoo.text.Tokenizer` for the "text" entry; None keeps strings.
      batch_size: B; image_size: S.
      templates: caption templates containing "{}" (default `TRAIN_TEMPLATES`).
      numeral_fraction: probability that a caption names the digit as a numeral ("7").
      shuffle: reshuffle every epoch; seed: shuffle and caption-choice seed.
      drop_remainder: drop the last partial batch (needed for cross-replica losses).
      limit: use only the first `limit` images of the split.
      endless: one pass after another, each reshuffled and captioned afresh from a
        stateless pass seed (`sslzoo.data.pipeline.endless_passes`): what a
        resumable run iterates.
    Returns:
      tf.data.Dataset of {"image": float32 (B, S, S, 3), "text": int32 (B, L) or tf.string (B,)}.
    """
    templates = _check_templates(templates)
    if not 0.0 <= numeral_fraction <= 1.0:
        raise ValueError(f"`numeral_fraction` must be in [0, 1], got {numeral_fraction}")
    images, labels = digits(split)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    table = _caption_table(templates)

    if batch_size < 1:
        raise ValueError(f"`batch_size` must be positive, got {batch_size}")

    def with_captions(pass_seed):
        def draw(images, labels, keys):
            # Stateless draws keyed by the pass and the batch's elements: every pass
            # draws new captions, and a run resumed from a checkpointed iterator draws
            # the same ones as an uninterrupted run (a tf.random.Generator would not).
            draws = tf.random.stateless_uniform([2, tf.shape(labels)[0]], views.batch_seed(pass_seed, keys))
            template = tf.minimum(tf.cast(draws[0] * len(templates), tf.int32), len(templates) - 1)
            use_numeral = tf.cast(draws[1] < numeral_fraction, tf.int32)
            return images, tf.gather_nd(table, tf.stack([tf.cast(labels, tf.int32), use_numeral, template], axis=-1))
        return draw

    if endless:
        columns = (tf.constant(images), tf.constant(labels))  # held once; every pass gathers from them

        def one_pass(pass_seed):
            keys = pipeline.permuted_batches(len(images), batch_size, pass_seed, drop_remainder)
            dataset = keys.map(lambda k: (tf.gather(columns[0], k), tf.gather(columns[1], k), k))
            dataset = dataset.map(with_captions(pass_seed), num_parallel_calls=tf.data.AUTOTUNE)
            return _finish(dataset, tokenizer, batch_size, image_size, drop_remainder, batched=True)

        return pipeline.endless_passes(one_pass, seed)
    # One pass (an epoch per iteration): a stateful generator, whose state survives the
    # iterator, draws new captions every epoch (also unshuffled).
    generator = tf.random.Generator.from_seed(seed)

    def caption(label):
        template = generator.uniform([], 0, len(templates), tf.int32)
        use_numeral = tf.cast(generator.uniform([]) < numeral_fraction, tf.int32)
        return table[tf.cast(label, tf.int32), use_numeral, template]

    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle:
        dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(lambda image, label: (image, caption(label)))
    return _finish(dataset, tokenizer, batch_size, image_size, drop_remainder)


def _finish(dataset, tokenizer, batch_size, image_size, drop_remainder, batched=False):
    """(image, caption) pairs (or batches of them) -> batched {"image", "text"} dicts, preprocessed and tokenised."""
    if batch_size < 1:
        raise ValueError(f"`batch_size` must be positive, got {batch_size}")

    def to_batch(images, captions):
        text = captions if tokenizer is None else tokenizer(captions)
        return {"image": eval_images(images, image_size), "text": text}

    if not batched:
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    return dataset.map(to_batch, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def read_caption_file(path):
    """(image paths, captions) from a CSV with header `image_path,caption` or a JSONL file.

    Relative image paths are taken relative to the caption file's folder.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ValueError(f"`path` must be an existing caption file, got {path!r}")
    if path.endswith(".jsonl"):
        rows = []
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as error:
                    raise ValueError(f"{path}:{number} is not JSON ({error.msg})") from None
                if not isinstance(row, dict):
                    raise ValueError(f"{path}:{number} must be a JSON object with 'image_path' and 'caption', "
                                     f"got {type(row).__name__}")
                rows.append(row)
    elif path.endswith(".csv"):
        with open(path, encoding="utf-8", newline="") as f:
            rows = list(csv.DictReader(f))
    else:
        raise ValueError(f"`path` must end in .csv or .jsonl, got {path!r}")
    if not rows or any("image_path" not in r or "caption" not in r for r in rows):
        raise ValueError(f"every row of {path!r} needs 'image_path' and 'caption' fields "
                         f"(got {sorted(rows[0]) if rows else 'no rows'})")
    folder = os.path.dirname(os.path.abspath(path))
    paths = [r["image_path"] if os.path.isabs(r["image_path"]) else os.path.join(folder, r["image_path"])
             for r in rows]
    return paths, [str(r["caption"]) for r in rows]


def caption_file_dataset(path, tokenizer=None, batch_size=128, image_size=224, shuffle=True, seed=0,
                         drop_remainder=True):
    """Image-caption pairs listed in a CSV or JSONL file (see `read_caption_file`).

    Images (PNG/JPEG, grey or colour) are decoded and resized in tf.data.
    Returns:
      tf.data.Dataset of {"image": float32 (B, S, S, 3), "text": int32 (B, L) or tf.string (B,)}.
    """
    paths, captions = read_caption_file(path)

    def load(image_path, caption):
        data = tf.io.read_file(image_path)
        check = tf.debugging.Assert(whole_png_or_jpeg(data), [
            "image file", image_path, "is not a whole PNG or JPEG (truncated, empty or another format)"])
        with tf.control_dependencies([check]):
            image = tf.io.decode_image(data, channels=3, expand_animations=False)
        return tf.image.resize(tf.cast(image, tf.float32) / 255.0, (image_size, image_size), antialias=True), caption

    dataset = tf.data.Dataset.from_tensor_slices((paths, captions))
    if shuffle:
        dataset = dataset.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(load, num_parallel_calls=tf.data.AUTOTUNE)
    return _finish(dataset, tokenizer, batch_size, image_size, drop_remainder)


def tfds_caption_dataset(name, split="train", tokenizer=None, batch_size=128, image_size=224,
                         image_key="image", text_key="caption", shuffle=True, seed=0, drop_remainder=True,
                         data_dir=None):
    """Image-caption pairs from tensorflow-datasets.

    Args:
      name: tfds dataset name; split: tfds split.
      image_key: the image feature; text_key: a text feature (a string, or a
        sequence of strings of which the first is used), "/"-separated for
        nested features (e.g. "captions/text" in coco_captions).
    Returns:
      tf.data.Dataset of {"image": float32 (B, S, S, 3), "text": int32 (B, L) or tf.string (B,)}.
    """
    import tensorflow_datasets as tfds

    source = tfds.load(name, split=split, data_dir=data_dir, shuffle_files=shuffle)

    if image_key not in source.element_spec:
        raise ValueError(f"`image_key` {image_key!r} is not a feature of {name}; features: {sorted(source.element_spec)}")
    spec = source.element_spec
    for key in text_key.split("/"):
        if not isinstance(spec, dict) or key not in spec:
            raise ValueError(f"`text_key` {text_key!r}: no feature {key!r} in {name}; "
                             f"features: {sorted(spec) if isinstance(spec, dict) else spec}")
        spec = spec[key]

    def texts(example):
        for key in text_key.split("/"):
            example = example[key]
        return tf.reshape(example, [-1])  # a single caption or a sequence of them -> (K,)

    def pick(example):
        image = tf.image.convert_image_dtype(example[image_key], tf.float32)
        return tf.image.resize(image, (image_size, image_size), antialias=True), texts(example)[0]

    dataset = source.filter(lambda example: tf.size(texts(example)) > 0).map(pick)
    if shuffle:
        dataset = dataset.shuffle(1024, seed=seed, reshuffle_each_iteration=True)
    return _finish(dataset, tokenizer, batch_size, image_size, drop_remainder)
