"""Property-based tests (hypothesis) for the parsers, tokenizers, converters and augmentation shapes.

Each property holds for every input hypothesis draws; TensorFlow functions are traced once per
module (shape-polymorphic signatures), so the examples stay fast.
"""
import csv
import json
import math

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sslzoo.data import av
from sslzoo.data.prepare import AnnotationError, audioset, csv_format, howto100m
from sslzoo.data.prepare.records import number

FAST = settings(max_examples=25, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
TEXT = st.text(max_size=40)  # any unicode (no surrogates), NUL and control characters included
ROW_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=30)
SECONDS = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)


# ---------------------------------------------------------------- annotation parsers

@FAST
@given(value=st.one_of(st.floats(), st.text(max_size=12), st.integers(),
                       st.sampled_from(["inf", "-inf", "nan", "1e400", " 2.5 ", "-0.0", "1_0"])))
def test_a_time_is_a_finite_non_negative_number_or_a_named_error(value):
    try:
        parsed = float(value)
    except (TypeError, ValueError, OverflowError):
        parsed = None
    if parsed is not None and math.isfinite(parsed) and parsed >= 0:
        assert number("f.csv", "line 2", "start", value) == parsed
    else:
        with pytest.raises(AnnotationError, match=r"f\.csv: record 'line 2', field 'start'"):
            number("f.csv", "line 2", "start", value)


LABELS = st.one_of(ROW_TEXT, st.integers(-3, 12).map(str))  # class names, or all-integer indices
ROWS = st.lists(st.tuples(ROW_TEXT.filter(bool), SECONDS, SECONDS, LABELS, ROW_TEXT), min_size=1, max_size=5)


@FAST
@given(rows=ROWS)
def test_csv_rows_written_by_the_csv_module_parse_back(tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("csv") / "train.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["video_path", "start", "end", "label", "caption"])
        for video, a, b, label, caption in rows:
            writer.writerow([video, repr(min(a, b)), repr(max(a, b)), label, caption])
    clips = csv_format.parse([str(path)])
    assert len(clips) == len(rows)
    labels = [clip.labels for clip in clips if clip.label_texts]
    assert all(len(found) == 1 and found[0] >= 0 for found in labels)  # a class index, never negative
    for clip, (video, a, b, label, caption) in zip(clips, rows):
        assert (clip.video_id, clip.start, clip.end, clip.subset) == (video, min(a, b), max(a, b), "train")
        assert clip.captions == ([(min(a, b), max(a, b), caption)] if caption else [])
        assert clip.label_texts == ([label] if label else [])
    named = {}
    for clip in clips:  # one index per label name, distinct names get distinct indices
        if clip.label_texts:
            named.setdefault(clip.label_texts[0], clip.labels[0])
            assert named[clip.label_texts[0]] == clip.labels[0]
    assert len(set(named.values())) == len(named) or all(t.strip().lstrip("+-").isdigit() for t in named)


@FAST
@given(junk=st.binary(max_size=60))
def test_a_malformed_csv_is_an_annotation_error_or_parses(tmp_path_factory, junk):
    path = tmp_path_factory.mktemp("csv") / "junk.csv"
    path.write_bytes(b"video_path,start,end\n" + junk)
    try:
        clips = csv_format.parse([str(path)])
    except AnnotationError as error:
        assert str(path) in str(error)
    else:
        assert all(clip.start <= clip.end for clip in clips)


YTID = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=11)
MIDS = ("/m/09x0r", "/m/05zppz", "/t/dd00003", "/m/0ytgt")


@FAST
@given(segments=st.lists(st.tuples(YTID, SECONDS, SECONDS, st.lists(st.sampled_from(MIDS), max_size=3)),
                         min_size=1, max_size=5))
def test_audioset_segments_parse_back(tmp_path_factory, segments):
    folder = tmp_path_factory.mktemp("audioset")
    classes = folder / "class_labels_indices.csv"
    classes.write_text("index,mid,display_name\n" + "".join(
        f'{i},{mid},"Name, {i}"\n' for i, mid in enumerate(MIDS)), encoding="utf-8")
    lines = ["# Segments csv created Sun Mar  5 10:54:31 2017", "# num_ytids=2", "# YTID, start_seconds, ..."]
    for ytid, a, b, mids in segments:
        lines.append(f'{ytid}, {min(a, b)!r}, {max(a, b)!r}, "{",".join(mids)}"')
    path = folder / "eval_segments.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    clips = audioset.parse([str(path), str(classes)])
    assert [c.video_id for c in clips] == [s[0] for s in segments]
    for clip, (_, a, b, mids) in zip(clips, segments):
        assert (clip.start, clip.end, clip.subset) == (min(a, b), max(a, b), "eval")
        assert clip.labels == [MIDS.index(m) for m in mids]
        assert clip.label_texts == [f"Name, {MIDS.index(m)}" for m in mids]


@FAST
@given(videos=st.dictionaries(YTID, st.lists(st.tuples(SECONDS, SECONDS, TEXT), max_size=4), max_size=4))
def test_howto100m_captions_parse_back(tmp_path_factory, videos):
    path = tmp_path_factory.mktemp("howto") / "caption.json"
    data = {v: {"start": [n[0] for n in ns], "end": [n[1] for n in ns], "text": [n[2] for n in ns]}
            for v, ns in videos.items()}
    path.write_text(json.dumps(data), encoding="utf-8")
    clips = howto100m.parse([str(path)])
    assert [c.video_id for c in clips] == sorted(videos)
    for clip in clips:
        assert clip.captions == [(s, max(s, e), t) for s, e, t in videos[clip.video_id]]


# ---------------------------------------------------------------- DMVR converters and parsing

@pytest.fixture(scope="module")
def jpegs():
    from sslzoo.data.av.example import encode_jpeg

    rng = np.random.default_rng(0)
    return [encode_jpeg(rng.integers(0, 255, (8 + 2 * i, 8, 3), dtype=np.uint8)) for i in range(3)]


@pytest.fixture(scope="module")
def parse():
    from sslzoo.data.av.parse import parse_clip

    return tf.function(lambda serialized: parse_clip(serialized, name="record"),
                       input_signature=[tf.TensorSpec([], tf.string)])


@st.composite
def clips(draw):
    captions = draw(st.lists(TEXT, max_size=3))
    timed = draw(st.booleans())
    start = draw(SECONDS)
    clip = {
        "frame_choice": draw(st.lists(st.integers(0, 2), min_size=1, max_size=4)),
        "audio": np.asarray(draw(st.lists(st.floats(-1, 1, width=32), max_size=40)), np.float32),
        "captions": captions,
        "label": draw(st.lists(st.integers(-2**40, 2**40), max_size=3)),
        "label_text": draw(st.lists(TEXT, max_size=2)),
        "filename": draw(TEXT),
        "start": start,
        "end": start + draw(st.floats(0, 100)),
    }
    if timed:
        clip["caption_start"] = [draw(SECONDS) for _ in captions]
        clip["caption_end"] = [draw(SECONDS) for _ in captions]
    return clip


def _micro(seconds):
    return int(round(seconds * 1e6))


@FAST
@given(clip=clips())
def test_clips_round_trip_through_sequence_examples_and_parse_clip(jpegs, parse, clip):
    frames = [jpegs[i] for i in clip.pop("frame_choice")]
    clip["frames"] = frames
    serialized = av.clip_to_example(clip).SerializeToString()
    back = av.example_to_clip(serialized)
    assert back["frames"] == frames and back["captions"] == clip["captions"]
    np.testing.assert_array_equal(back["audio"], clip["audio"])
    assert back["label"] == clip["label"] and back["label_text"] == clip["label_text"]
    assert back["filename"] == clip["filename"]
    assert _micro(back["start"]) == _micro(clip["start"]) and _micro(back["end"]) == _micro(clip["end"])

    parsed = parse(tf.constant(serialized))
    assert [j for j in parsed["jpegs"].numpy()] == frames
    np.testing.assert_array_equal(parsed["audio"].numpy(), clip["audio"])
    assert [c.decode("utf-8") for c in parsed["captions"].numpy()] == clip["captions"]
    assert int(parsed["label"]) == (clip["label"][0] if clip["label"] else -1)
    assert list(parsed["labels"].numpy()) == clip["label"]
    count = len(clip["captions"])
    starts = clip.get("caption_start", [clip["start"]] * count)
    ends = clip.get("caption_end", [clip["end"]] * count)
    assert list(parsed["caption_start"].numpy()) == [_micro(s) for s in starts]
    assert list(parsed["caption_end"].numpy()) == [_micro(e) for e in ends]


@FAST
@given(num_stored=st.integers(0, 40), num_frames=st.integers(1, 8), stride=st.integers(1, 4),
       seed=st.integers(0, 2**31 - 1))
def test_frame_windows_stay_inside_the_clip(num_stored, num_frames, stride, seed):
    from sslzoo.data.av.windows import frame_window

    for window_seed in (None, tf.constant([seed, 7], tf.int64)):
        indices, start = frame_window(num_stored, num_frames, stride, window_seed)
        indices = indices.numpy()
        assert indices.shape == (num_frames,)
        assert ((indices >= 0) & (indices < max(num_stored, 1))).all()
        if num_stored >= (num_frames - 1) * stride + 1:  # room for the whole span: no wrap-around
            np.testing.assert_array_equal(np.diff(indices), stride)


# ---------------------------------------------------------------- tokenizers

WORDS = ["seven", "two", "moves", "left", "a", "digit", "##s", "the"]


@pytest.fixture(scope="module")
def tokenizers():
    from sslzoo import text
    from sslzoo.text.tokenizer import RESERVED_TOKENS

    return (text.Tokenizer(list(RESERVED_TOKENS) + WORDS, sequence_length=7),
            text.WordTokenizer(["[PAD]", "[UNK]"] + [w for w in WORDS if not w.startswith("##")], sequence_length=5))


@FAST
@given(texts=st.lists(TEXT, min_size=1, max_size=4))
def test_wordpiece_rows_are_start_tokens_end_then_padding(tokenizers, texts):
    from sslzoo.text.tokenizer import END_ID, PAD_ID, START_ID

    tokenizer, _ = tokenizers
    ids = tokenizer(tf.constant(texts)).numpy()
    assert ids.shape == (len(texts), 7) and ids.dtype == np.int32
    assert ((ids >= 0) & (ids < tokenizer.vocabulary_size)).all()
    for row in ids:
        assert row[0] == START_ID and (row == END_ID).sum() == 1
        end = int(np.flatnonzero(row == END_ID)[0])
        assert (row[end + 1:] == PAD_ID).all() and not np.isin(row[1:end], [PAD_ID, START_ID, END_ID]).any()


@FAST
@given(words=st.lists(st.sampled_from(["seven", "two", "moves", "left", "digit", "the"]), max_size=9))
def test_wordpiece_detokenize_inverts_tokenize_up_to_the_length(tokenizers, words):
    tokenizer, _ = tokenizers
    out = tokenizer.detokenize(tokenizer(tf.constant([" ".join(words)]))).numpy()[0].decode("utf-8")
    assert out == " ".join(words[:5])  # sequence_length 7 keeps 5 tokens between [START] and [END]


@FAST
@given(texts=st.lists(TEXT, min_size=1, max_size=4))
def test_word_tokenizer_rows_are_words_then_padding(tokenizers, texts):
    _, words = tokenizers
    ids = words(tf.constant(texts)).numpy()
    assert ids.shape == (len(texts), 5)
    assert ((ids >= 0) & (ids < words.vocabulary_size)).all()
    for row in ids:
        real = np.flatnonzero(row != 0)
        assert (real == np.arange(len(real))).all()  # no padding before a word


# ---------------------------------------------------------------- augmentation shapes

SIZE, LOCAL = 8, 4


@pytest.fixture(scope="module")
def augmenters():
    from sslzoo.augment import MultiCrop, SimCLRAugment

    simclr = SimCLRAugment(SIZE, blur_prob=0.5, solarize_prob=0.2, jit_compile=False, seed=0)
    multicrop = MultiCrop(SIZE, LOCAL, 2, jit_compile=False, seed=0)
    functions = {}
    for channels in (1, 3):
        for dtype in (tf.uint8, tf.float32):
            spec = [tf.TensorSpec([None, None, None, channels], dtype), tf.TensorSpec([2], tf.int64)]
            functions[(channels, dtype)] = (tf.function(lambda x, s: simclr(x, seed=s), input_signature=spec),
                                            tf.function(lambda x, s: multicrop(x, seed=s), input_signature=spec))
    return functions


@settings(FAST, max_examples=20)
@given(batch=st.integers(1, 4), height=st.integers(1, 40), width=st.integers(1, 40), channels=st.sampled_from([1, 3]),
       uint8=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_views_and_crops_have_the_declared_shapes_for_any_input_size(augmenters, batch, height, width, channels,
                                                                   uint8, seed):
    rng = np.random.default_rng(seed)
    if uint8:
        images = rng.integers(0, 256, (batch, height, width, channels), dtype=np.uint8)
    else:
        images = rng.uniform(-0.5, 1.5, (batch, height, width, channels)).astype(np.float32)  # also out of range
    simclr, multicrop = augmenters[(channels, tf.uint8 if uint8 else tf.float32)]
    call_seed = tf.constant([seed, 1], tf.int64)
    views = simclr(images, call_seed)
    crops = multicrop(images, call_seed)
    assert len(views) == 2 and len(crops) == 4
    expected = [(batch, SIZE, SIZE, 3)] * 4 + [(batch, LOCAL, LOCAL, 3)] * 2
    for output, shape in zip([*views, *crops], expected):
        output = output.numpy()
        assert output.shape == shape and output.dtype == np.float32
        assert np.isfinite(output).all() and output.min() >= 0.0 and output.max() <= 1.0


# ---------------------------------------------------------------- nightly: the same properties, 16x the examples

NIGHTLY = settings(FAST, max_examples=400)


@pytest.mark.slow
@NIGHTLY
@given(rows=ROWS)
def test_nightly_csv_rows_parse_back(tmp_path_factory, rows):
    test_csv_rows_written_by_the_csv_module_parse_back.hypothesis.inner_test(tmp_path_factory, rows)


@pytest.mark.slow
@NIGHTLY
@given(value=st.one_of(st.floats(), st.text(max_size=12), st.integers()), junk=st.binary(max_size=200))
def test_nightly_times_and_malformed_csv(tmp_path_factory, value, junk):
    test_a_time_is_a_finite_non_negative_number_or_a_named_error.hypothesis.inner_test(value)
    test_a_malformed_csv_is_an_annotation_error_or_parses.hypothesis.inner_test(tmp_path_factory, junk)


@pytest.mark.slow
@NIGHTLY
@given(clip=clips())
def test_nightly_clips_round_trip(jpegs, parse, clip):
    test_clips_round_trip_through_sequence_examples_and_parse_clip.hypothesis.inner_test(jpegs, parse, clip)


@pytest.mark.slow
@NIGHTLY
@given(texts=st.lists(TEXT, min_size=1, max_size=4))
def test_nightly_tokenizer_rows(tokenizers, texts):
    test_wordpiece_rows_are_start_tokens_end_then_padding.hypothesis.inner_test(tokenizers, texts)
    test_word_tokenizer_rows_are_words_then_padding.hypothesis.inner_test(tokenizers, texts)
