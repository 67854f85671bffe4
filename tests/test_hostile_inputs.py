"""Dirty data: each bad input gives an error naming the file, record or argument and what was
expected (or, where a flag says skip, a counted skip), never silent garbage.

Covered here: corrupt and truncated DMVR shards, undecodable JPEG frames and image files,
records without frames, audio shorter than the window, labels out of range and empty sets in
the evaluation protocols, non-finite features, over-long text, objectives fed batches of
mismatched sizes, unknown recipe fields at `sslzoo-train`, missing or half-written exports.
Elsewhere: media that PyAV cannot decode (`test_prepare.py`, counted in prepare_report.json;
`test_search.py`, `Index.skipped`), wrong batch structures (`test_registry.py`), loss shapes
(`test_losses_errors.py`), malformed annotation files (`test_prepare.py`).
"""
import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from sslzoo import evaluation
from sslzoo.data import av
from sslzoo.data.av import keys

FRAME = 16


def _clip(rng, frames=3, audio=4800, label=1):
    return {"frames": rng.integers(0, 255, (frames, FRAME, FRAME, 3), dtype=np.uint8),
            "audio": rng.normal(size=audio).astype(np.float32) * 0.1, "captions": ["a clip"], "label": label}


def _read_all(pattern, **kwargs):
    options = dict(num_frames=2, image_size=8, training=False, shuffle_buffer=1)
    options.update(kwargs)
    return [element for element in av.read_clips(pattern, **options).as_numpy_iterator()]


@pytest.fixture(scope="module")
def good_shard(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shards")
    rng = np.random.default_rng(0)
    (path,) = av.write_clips(str(folder / "good"), [_clip(rng) for _ in range(3)])
    return path


def _damaged(good_shard, tmp_path, kind):
    data = open(good_shard, "rb").read()
    if kind == "truncated":  # a copy cut short inside the last record
        data = data[:len(data) - 50]
    elif kind == "flipped_byte":  # one payload byte changed: the record's CRC no longer matches
        data = bytearray(data)
        data[40] ^= 0xFF
        data = bytes(data)
    else:  # not a TFRecord file at all
        data = b"this is not a TFRecord file" * 4
    path = tmp_path / f"{kind}.tfrecord"
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize("kind", ["truncated", "flipped_byte", "not_tfrecord"])
def test_a_damaged_shard_fails_naming_the_file(good_shard, tmp_path, kind):
    # Before: DataLossError "truncated record at 45956" / "corrupted record at 12", no file named.
    path = _damaged(good_shard, tmp_path, kind)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=rf"DMVR shard\] \[{path}\] \[is truncated or corrupt: its readable records end at byte"):
        _read_all(path)


def test_good_and_empty_shards_read_in_full_and_the_iterator_still_checkpoints(good_shard, tmp_path):
    empty = tmp_path / "empty.tfrecord"  # a shard that got no clips (more shards than clips)
    empty.write_bytes(b"")
    assert len(_read_all([good_shard, str(empty)])) == 3
    # The per-file checks keep the input pipeline checkpointable (exact resume saves the iterator).
    dataset = av.read_clips(good_shard, num_frames=2, image_size=8, training=True, seed=3, shuffle_buffer=1)
    iterator = iter(dataset)
    next(iterator)
    checkpoint = tf.train.Checkpoint(iterator=iterator)
    saved = checkpoint.write(str(tmp_path / "ckpt"))
    expected = next(iterator)["video"].numpy()
    restored = iter(dataset)
    tf.train.Checkpoint(iterator=restored).read(saved).assert_consumed()
    np.testing.assert_array_equal(next(restored)["video"].numpy(), expected)


def _png_bytes(rng):
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (FRAME, FRAME, 3), dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _frame_bytes(kind, rng):
    from sslzoo.data.av.example import encode_jpeg

    jpeg = encode_jpeg(rng.integers(0, 255, (FRAME, FRAME, 3), dtype=np.uint8))
    return {"garbage": b"\xff\xd8\xff not really a jpeg", "png": _png_bytes(rng),
            "truncated_jpeg": jpeg[:len(jpeg) // 2], "empty": b""}[kind]


@pytest.mark.parametrize("kind", ["garbage", "png", "truncated_jpeg", "empty"])
@pytest.mark.parametrize("training", [False, True])
def test_an_undecodable_frame_fails_naming_the_record(tmp_path, kind, training):
    # Before: "Invalid JPEG data, size 11" from inside tf.data, no shard or record named.
    rng = np.random.default_rng(1)
    good = _clip(rng)
    bad = {**_clip(rng), "frames": [_frame_bytes(kind, rng)] * 3}
    (path,) = av.write_clips(str(tmp_path / "frames"), [good, bad])
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=rf"DMVR record\] \[{path}:1\] \[has a frame in image/encoded that is not a whole JPEG"):
        _read_all(path, training=training, seed=0)


def _write_records(path, records):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)
    return str(path)


def test_records_without_frames_or_not_sequence_examples_are_named(tmp_path):
    from tensorflow.core.example import example_pb2

    no_list = example_pb2.SequenceExample()
    no_list.context.feature[keys.CAPTION].bytes_list.value.append(b"no frames at all")
    empty_list = example_pb2.SequenceExample()
    empty_list.feature_lists.feature_list[keys.IMAGE].SetInParent()  # the list is there, with no frames
    path = _write_records(tmp_path / "no_list.tfrecord", [no_list.SerializeToString()])
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=rf"Name: {path}:0, Feature list 'image/encoded' is required"):
        _read_all(path)
    path = _write_records(tmp_path / "empty_list.tfrecord", [empty_list.SerializeToString()])
    with pytest.raises(tf.errors.InvalidArgumentError, match=rf"DMVR record\] \[{path}:0\] \[has no frames"):
        _read_all(path)
    path = _write_records(tmp_path / "not_example.tfrecord", [b"\x01\x02 not a protocol buffer"])
    with pytest.raises(tf.errors.InvalidArgumentError, match=rf"Invalid protocol message input, example id: {path}:0"):
        _read_all(path)


def test_audio_shorter_than_the_window_repeats_and_an_empty_waveform_is_refused(tmp_path):
    rng = np.random.default_rng(2)
    short = np.linspace(-0.5, 0.5, 10).astype(np.float32)
    (path,) = av.write_clips(str(tmp_path / "short_audio"), [{**_clip(rng), "audio": short}])
    (element,) = _read_all(path, audio_samples=4800)
    # DMVR's rule, documented in read_clips: a short clip is padded by repetition, mask 1.
    assert element["audio"].shape == (4800,) and element["audio_mask"] == 1.0
    np.testing.assert_array_equal(element["audio"], np.resize(short, 4800))
    # A waveform shorter than one STFT frame gives one frame of finite values ...
    spectrogram = av.log_mel(tf.constant(short[None]), 48000)
    assert spectrogram.shape == (1, 1, 80) and np.isfinite(spectrogram.numpy()).all()
    # ... and an empty one an error (before: a (B, 0, 80) spectrogram, NaN after pooling).
    with pytest.raises(ValueError, match=r"`waveform` must hold at least one sample"):
        av.log_mel(tf.zeros((2, 0)), 48000)
    from sslzoo.data.av.log_mel import LogMelSpectrogram

    with pytest.raises(ValueError, match=r"`waveform` must hold at least one sample"):
        LogMelSpectrogram()(tf.zeros((2, 0)))


@pytest.mark.parametrize("kind", ["truncated_jpeg", "garbage", "empty", "png_cut"])
def test_an_undecodable_image_file_fails_naming_the_file(tmp_path, kind):
    from sslzoo.data import image_folder

    rng = np.random.default_rng(3)
    (tmp_path / "cat").mkdir()
    (tmp_path / "cat" / "a.png").write_bytes(_png_bytes(rng))
    data = _png_bytes(rng)[:-20] if kind == "png_cut" else _frame_bytes(kind, rng)
    bad = tmp_path / "cat" / "b.jpg"
    bad.write_bytes(data)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=rf"image file\] \[{bad}\] \[is not a whole PNG or JPEG"):
        list(image_folder(str(tmp_path), image_size=8).as_numpy_iterator())


@pytest.mark.parametrize("kind", ["truncated_jpeg", "garbage"])
def test_an_undecodable_image_in_a_caption_file_fails_naming_the_file(tmp_path, kind):
    from sslzoo.data.captions import caption_file_dataset

    rng = np.random.default_rng(4)
    (tmp_path / "a.png").write_bytes(_png_bytes(rng))
    (tmp_path / "b.jpg").write_bytes(_frame_bytes(kind, rng))
    (tmp_path / "pairs.jsonl").write_text('{"image_path": "a.png", "caption": "a seven"}\n'
                                          '{"image_path": "b.jpg", "caption": "a two"}\n')
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"image file\] \[.*b\.jpg\] \[is not a whole PNG or JPEG"):
        list(caption_file_dataset(str(tmp_path / "pairs.jsonl"), batch_size=2, image_size=8,
                                  shuffle=False).as_numpy_iterator())


@pytest.mark.parametrize("line, message", [('"just a string"', r"pairs.jsonl:2 must be a JSON object"),
                                           ("{not json", r"pairs.jsonl:2 is not JSON")])
def test_a_caption_file_line_that_is_not_an_object_is_named(tmp_path, line, message):
    from sslzoo.data.captions import read_caption_file

    (tmp_path / "pairs.jsonl").write_text('{"image_path": "a.png", "caption": "a seven"}\n' + line + "\n")
    with pytest.raises(ValueError, match=message):
        read_caption_file(tmp_path / "pairs.jsonl")


# ---------------------------------------------------------------- evaluation protocols

def _features(count=40, dim=5, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(count, dim)).astype(np.float32), np.arange(count) % classes


PROTOCOLS = {
    "knn": lambda *a, **k: evaluation.knn(None, *a, k=5, **k),
    "linear_probe": lambda *a, **k: evaluation.linear_probe(None, *a, l2=1e-3, max_iterations=50, **k),
}


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_labels_out_of_range_are_refused(protocol):
    # Before: kNN scored a -1 label as "votes for no class" (or read scores[:, -1]), top-1 0.75, no
    # error; a label >= num_classes gave IndexError (kNN) or an L-BFGS graph error (probe).
    x, y = _features()
    run = PROTOCOLS[protocol]
    with pytest.raises(ValueError, match=r"`train_labels` must lie in \[0, 4\).*1 of 40 do not, e\.g\. -1 at index 0"):
        run(x, np.where(np.arange(40) == 0, -1, y), x, y)
    with pytest.raises(ValueError,
                       match=r"`test_labels` must lie in \[0, 3\) \(num_classes=3\); 10 of 40 do not, e\.g\. 3"):
        run(x, np.minimum(y, 2), x, y, num_classes=3)
    with pytest.raises(ValueError, match=r"`train_labels` must be integer labels"):
        run(x, y.astype(np.float32), x, y)


@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_empty_sets_and_non_finite_features_are_refused(protocol):
    # Before: "zero-size array to reduction operation maximum"; NaN features gave a number (top-1 1.0).
    x, y = _features()
    run = PROTOCOLS[protocol]
    with pytest.raises(ValueError, match=r"`train_images` must hold at least one example"):
        run(x[:0], y[:0], x, y)
    with pytest.raises(ValueError, match=r"`test_images` must hold at least one example"):
        run(x, y, x[:0], y[:0])
    poisoned = x.copy()
    poisoned[7, 2] = np.nan
    with pytest.raises(ValueError,
                       match=r"`train_images` gives non-finite features .* for 1 of 40 examples, e\.g\. index 7"):
        run(poisoned, y, x, y)


def test_an_encoder_given_no_images_is_refused():
    import tiny_models

    with pytest.raises(ValueError, match=r"`images` must hold at least one image"):
        evaluation.extract_features(tiny_models.image_encoder(), np.zeros((0, 28, 28, 3), np.uint8))


# ---------------------------------------------------------------- text

def _long_text(words):
    return " ".join(["seven"] * words)


def test_over_long_text_is_cut_to_the_sequence_length():
    from sslzoo import text
    from sslzoo.text.tokenizer import END_ID, RESERVED_TOKENS, START_ID, UNK_ID

    tokenizer = text.Tokenizer(list(RESERVED_TOKENS) + ["seven", "a", "digit"], sequence_length=6)
    inputs = tf.constant([_long_text(50_000), "x" * 20_000, "a digit"])
    ids = tokenizer(inputs).numpy()
    assert ids.shape == (3, 6)
    np.testing.assert_array_equal(ids[0], [START_ID, 4, 4, 4, 4, END_ID])  # first tokens, still [END]
    np.testing.assert_array_equal(ids[1], [START_ID, UNK_ID, END_ID, 0, 0, 0])  # one over-long word: [UNK]
    words = text.WordTokenizer(["[PAD]", "[UNK]", "seven", "a", "digit"], sequence_length=4)
    np.testing.assert_array_equal(words(inputs).numpy(), [[2, 2, 2, 2], [1, 0, 0, 0], [3, 4, 0, 0]])


def test_non_string_text_is_refused():
    from sslzoo import text
    from sslzoo.text.tokenizer import RESERVED_TOKENS

    tokenizer = text.Tokenizer(list(RESERVED_TOKENS) + ["seven"], sequence_length=4)
    with pytest.raises(ValueError, match=r"`strings` must be a rank-1 tf.string tensor"):
        tokenizer(tf.constant([[1, 2]]))
    with pytest.raises(ValueError, match=r"`strings` must be a rank-1 tf.string tensor"):
        tokenizer(tf.constant([["a", "b"]]))


# ---------------------------------------------------------------- objectives and encoders

def test_views_of_different_batch_sizes_are_refused_by_name():
    # Before: "Number of ways to split should evenly divide the split dimension ... size = 7".
    import keras

    import objective_harness as harness

    model = harness.make_objective("simclr")
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    views = np.random.default_rng(4).random((4, 16, 16, 3)).astype(np.float32)
    with pytest.raises(ValueError, match=r"SimCLR: every tensor of the batch must have the same batch size "
                                         r"\(axis 0\), got sizes \[3, 4\]"):
        model.fit(tf.data.Dataset.from_tensors((views, views[:3])), epochs=1, verbose=0)


def test_an_encoder_given_the_wrong_channels_or_rank_is_refused():
    import tiny_models

    encoder = tiny_models.image_encoder()
    images = np.zeros((2, 16, 16, 3), np.float32)
    with pytest.raises(ValueError, match=r"expected axis -1 of input shape to have value 3"):
        encoder(images[..., :1])
    with pytest.raises(ValueError, match=r"expected shape=\(None, 16, 16, 3\), found shape=\(16, 16, 3\)"):
        encoder(images[0])


# ---------------------------------------------------------------- recipes

def test_sslzoo_train_refuses_an_unknown_nested_recipe_field_before_training(tmp_path):
    # Unknown top-level and optimizer/schedule fields: tests/test_recipe.py (exit 2, field named).
    # A nested argument (augment, objective_args, backbone) is checked against what it configures
    # when the recipe is read: one line, exit 2, before any data is loaded.
    override = {"backbone": {"name": "small_cnn", "widths": [8, 16]}, "image_size": 16,
                "augment": {"kind": "simclr", "recipe": "digits", "colour_jiter": 0.5}}
    model_dir = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, "-m", "sslzoo.train.pretrain", "--preset=simclr_digits", f"--override={json.dumps(override)}",
         "--max_examples=128", "--batch_size=64", "--epochs=1", "--strategy=default", f"--model_dir={model_dir}"],
        capture_output=True, text=True, timeout=300)
    errors = [line for line in result.stderr.splitlines() if line.startswith("sslzoo-train: error:")]
    assert result.returncode == 2 and len(errors) == 1 and "augment.colour_jiter" in errors[0], result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert not model_dir.exists() or not (model_dir / "history.csv").exists()


# ---------------------------------------------------------------- exports

@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    import export_helpers
    from sslzoo import export

    path = str(tmp_path_factory.mktemp("export") / "hub")
    export.save(export_helpers.tiny_encoder(), path, format="hub")
    return path


def _break(export_dir, tmp_path, how):
    path = str(tmp_path / how)
    if how == "missing":
        return path
    if how == "empty_folder":
        os.makedirs(path)
        return path
    shutil.copytree(export_dir, path)
    variables = os.path.join(path, "variables")
    data = [os.path.join(variables, n) for n in os.listdir(variables) if ".data-" in n]
    if how == "no_variables":
        shutil.rmtree(variables)
    elif how == "no_variable_data":
        for file in data:
            os.remove(file)
    elif how in ("truncated_variables", "truncated_saved_model"):
        for file in data if how == "truncated_variables" else [os.path.join(path, "saved_model.pb")]:
            content = open(file, "rb").read()
            open(file, "wb").write(content[:len(content) // 2])
    return path


BROKEN = {
    "missing": r"is not an export folder \(no such folder\); expected a folder written by sslzoo.export.save",
    "empty_folder": r"has no saved_model.pb \(found \[\]\); expected a folder written by sslzoo.export.save",
    "no_variables": r"holds a damaged or incomplete export .*variables.*; expected a folder written by",
    "no_variable_data": r"holds a damaged or incomplete export .*variables\.data-.*; expected a folder written by",
    "truncated_variables": r"holds a damaged or incomplete export .*Read less bytes than requested; expected",
    "truncated_saved_model": r"holds a damaged or incomplete export .*saved_model\.pb.*; expected",
}


@pytest.mark.parametrize("how", sorted(BROKEN))
def test_a_missing_or_half_written_export_is_named(export_dir, tmp_path, how):
    # Before: IndexError "Read less bytes than requested" (truncated variables), a FileNotFoundError
    # suggesting `experimental_io_device`, or OSError "SavedModel file does not exist".
    from sslzoo import export

    path = _break(export_dir, tmp_path, how)
    for load in (export.load_encoder, export.load_multimodal):
        with pytest.raises(ValueError, match=rf"`path` '{path}' " + BROKEN[how]):
            load(path)


def test_the_search_encoder_names_a_half_written_export(export_dir, tmp_path):
    from sslzoo.search.encoder import load_encoder

    path = _break(export_dir, tmp_path, "truncated_variables")
    with pytest.raises(ValueError, match=rf"`path` '{path}' holds a damaged or incomplete export"):
        load_encoder(path)
