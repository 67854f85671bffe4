"""sslzoo.data.captions: captioned digits, caption files (CSV/JSONL) and tfds image-text data."""
import json

import numpy as np
import pytest


def _caption_classes(caption, templates):
    """Independent parse: the digit classes that `caption` can name under `templates`."""
    from sslzoo.data import captions

    return {c for c, name in enumerate(captions.DIGIT_CLASS_NAMES) for t in templates
            if caption in (t.format(name), t.format(str(c)))}


def test_templates_and_class_names():
    from sslzoo.data import captions

    assert len(captions.DIGIT_CLASS_NAMES) == 10 and captions.DIGIT_CLASS_NAMES[7] == "seven"
    assert not set(captions.TRAIN_TEMPLATES) & set(captions.HELD_OUT_TEMPLATES)
    assert all("{}" in t for t in captions.TRAIN_TEMPLATES + captions.HELD_OUT_TEMPLATES)
    assert len(captions.HELD_OUT_TEMPLATES) >= 2


def test_digit_captions_name_their_class():
    from sslzoo.data import captions

    labels = np.arange(20) % 10
    words = captions.digit_captions(labels, captions.HELD_OUT_TEMPLATES, numeral_fraction=0.0)
    numerals = captions.digit_captions(labels, captions.HELD_OUT_TEMPLATES, numeral_fraction=1.0)
    for label, word, numeral in zip(labels, words, numerals):
        assert captions.DIGIT_CLASS_NAMES[label] in word.split(" ")[-1]
        assert numeral.split(" ")[-1] == f"{label}."
        assert _caption_classes(word, captions.HELD_OUT_TEMPLATES) == {label}


def test_digit_caption_dataset_pairs_images_with_their_class(digits):
    from sslzoo.data import captions

    dataset = captions.digit_caption_dataset("train", None, batch_size=10, image_size=28, limit=25, shuffle=False)
    batches = list(dataset)
    assert len(batches) == 2  # drop_remainder: 25 -> 2 batches of 10
    images, labels = captions.digits("train")
    expected = np.repeat(images[:20].astype(np.float32) / 255.0, 3, axis=-1)
    got_images = np.concatenate([b["image"].numpy() for b in batches])
    # uint8 / 255 in float32 vs float64: eps32 / 2 relative on values <= 1 -> <= 6e-8.
    np.testing.assert_allclose(got_images, expected, atol=1e-6)
    got_captions = [c.decode() for b in batches for c in b["text"].numpy()]
    for caption, label in zip(got_captions, labels[:20]):
        assert _caption_classes(caption, captions.TRAIN_TEMPLATES) == {label}, (caption, label)


def test_captions_are_redrawn_every_epoch_and_tokenised():
    from sslzoo import text
    from sslzoo.data import captions

    tokenizer = text.Tokenizer(text.learn_vocabulary(
        [t.format(n) for t in captions.TRAIN_TEMPLATES for n in captions.DIGIT_CLASS_NAMES], 150), 12)
    dataset = captions.digit_caption_dataset("test", tokenizer, batch_size=16, image_size=16, limit=16,
                                             shuffle=False)
    first, second = [next(iter(dataset))["text"].numpy() for _ in range(2)]
    assert first.dtype == np.int32 and first.shape == (16, 12)
    assert (first != second).any(axis=1).sum() >= 4  # new templates drawn for the same images
    assert next(iter(dataset))["image"].shape == (16, 16, 16, 3)


def test_digit_caption_dataset_bad_arguments():
    from sslzoo.data import captions

    with pytest.raises(ValueError, match="templates"):
        captions.digit_caption_dataset(templates=["no placeholder"])
    with pytest.raises(ValueError, match="numeral_fraction"):
        captions.digit_caption_dataset(numeral_fraction=2.0)
    with pytest.raises(ValueError, match="split"):
        captions.digit_caption_dataset(split="validation")


def _write_images(folder):
    """Three constant-colour PNGs (one greyscale, different sizes) -> [(name, rgb in [0, 1]), ...]."""
    import tensorflow as tf

    specs = [("red.png", (8, 6), (255, 0, 0)), ("grey.png", (5, 5), (128,)), ("blue.png", (4, 9), (0, 0, 255))]
    for name, (h, w), colour in specs:
        pixels = np.broadcast_to(np.array(colour, np.uint8), (h, w, len(colour)))
        tf.io.write_file(str(folder / name), tf.io.encode_png(pixels))
    return [(name, np.resize(np.array(colour) / 255.0, 3)) for name, _, colour in specs]


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_caption_file_dataset(tmp_path, suffix):
    from sslzoo.data import captions

    images = _write_images(tmp_path)
    rows = [{"image_path": name, "caption": f"a {name[:-4]}, square"} for name, _ in images]
    path = tmp_path / f"captions.{suffix}"
    if suffix == "csv":
        path.write_text("image_path,caption\n" + "".join(f'{r["image_path"]},"{r["caption"]}"\n' for r in rows))
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    batch = next(iter(captions.caption_file_dataset(path, None, batch_size=3, image_size=4, shuffle=False)))
    assert [c.decode() for c in batch["text"].numpy()] == [r["caption"] for r in rows]
    assert batch["image"].shape == (3, 4, 4, 3)
    for image, (_, colour) in zip(batch["image"].numpy(), images):
        # a solid colour resized bilinearly: weights summing to 1 in float32, a few eps32 on values <= 1.
        np.testing.assert_allclose(image, np.broadcast_to(colour, image.shape), atol=1e-5)


def test_caption_file_errors(tmp_path):
    from sslzoo.data import captions

    with pytest.raises(ValueError, match="path"):
        captions.read_caption_file(tmp_path / "missing.csv")
    (tmp_path / "c.txt").write_text("x")
    with pytest.raises(ValueError, match=".csv or .jsonl"):
        captions.read_caption_file(tmp_path / "c.txt")
    (tmp_path / "c.csv").write_text("path,text\na.png,hello\n")
    with pytest.raises(ValueError, match="image_path"):
        captions.read_caption_file(tmp_path / "c.csv")


def test_tfds_caption_dataset_with_nested_captions():
    import tensorflow_datasets as tfds
    from sslzoo.data import captions

    with tfds.testing.mock_data(num_examples=12):
        dataset = captions.tfds_caption_dataset("coco_captions", "train", None, batch_size=4, image_size=8,
                                                text_key="captions/text", shuffle=False)
        batch = next(iter(dataset))
        assert batch["image"].shape == (4, 8, 8, 3) and batch["text"].shape == (4,)
        assert float(batch["image"].numpy().min()) >= 0.0 and float(batch["image"].numpy().max()) <= 1.0
        with pytest.raises(ValueError, match="text_key"):
            captions.tfds_caption_dataset("coco_captions", "train", text_key="captions/words")
        with pytest.raises(ValueError, match="image_key"):
            captions.tfds_caption_dataset("coco_captions", "train", image_key="picture")
