"""Tests for MMV's text tower: word tokenizer, vocabulary, word vectors, masked max, round trip, export."""
import gzip

import numpy as np
import pytest

import keras
import tensorflow as tf
from sslzoo import text
from sslzoo.text.mmv_text import masked_max

CORPUS = [
    "A seven moving left.",
    "The seven moves LEFT, then the five moves right!",
    "five; five... five",
    "the digit two",
]


@pytest.fixture(scope="module")
def vocabulary():
    return text.learn_word_vocabulary(CORPUS, size=9)


def test_vocabulary_is_reserved_words_then_words_by_count(vocabulary):
    # counts: five 4, the 3, seven 2, left 2, moves 2, then 1 each (a digit moving right then two)
    assert vocabulary == ["[PAD]", "[UNK]", "five", "the", "left", "moves", "seven", "a", "digit"]
    assert text.learn_word_vocabulary(CORPUS, size=100, min_count=2) == [
        "[PAD]", "[UNK]", "five", "the", "left", "moves", "seven"]


def test_word_tokenizer_gives_expected_ids(vocabulary):
    tokenizer = text.WordTokenizer(vocabulary, sequence_length=6)
    ids = np.asarray(tokenizer(tf.constant(["The SEVEN moves; left!", "", "sevens fivefive two five",
                                            "five the five the five the five the"])))
    np.testing.assert_array_equal(ids, [
        [3, 6, 5, 4, 0, 0],      # lower-cased, punctuation dropped
        [0, 0, 0, 0, 0, 0],      # no words: all padding
        [1, 1, 1, 2, 0, 0],      # unknown words (also concatenations of known ones) -> 1
        [2, 3, 2, 3, 2, 3],      # cut to the first 6 words
    ])
    assert ids.dtype == np.int32 and tokenizer.vocabulary_size == 9 and tokenizer.sequence_length == 6


def test_word_tokenizer_in_tf_data_and_config(vocabulary):
    tokenizer = text.WordTokenizer(vocabulary, sequence_length=4)
    dataset = tf.data.Dataset.from_tensor_slices(CORPUS).batch(2).map(tokenizer)
    first = next(iter(dataset)).numpy()
    np.testing.assert_array_equal(first, [[7, 6, 1, 4], [3, 6, 5, 4]])
    clone = text.WordTokenizer.from_config(tokenizer.get_config())
    np.testing.assert_array_equal(np.asarray(clone(tf.constant(CORPUS))), np.asarray(tokenizer(tf.constant(CORPUS))))


def test_masked_max_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5, 4)).astype(np.float32)
    ids = np.array([[4, 2, 0, 0, 0], [0, 0, 0, 0, 0], [1, 3, 5, 2, 7]], np.int32)
    expected = np.stack([x[b][ids[b] != 0].max(axis=0) if np.any(ids[b]) else np.zeros(4) for b in range(3)])
    np.testing.assert_allclose(np.asarray(masked_max(tf.constant(x), tf.constant(ids))), expected, atol=0)


def test_encoder_forward_matches_numpy(vocabulary):
    encoder = text.MMVTextEncoder(vocabulary, sequence_length=6, embedding_dim=5, width=7)
    ids = np.asarray(encoder.tokenizer(tf.constant(["The SEVEN moves left", "", "zebra"])))
    table = np.asarray(encoder.get_layer("word_embedding").embeddings)
    kernel, bias = (np.asarray(w) for w in encoder.get_layer("word_projection").weights)
    hidden = np.maximum(table[ids] @ kernel[0] + bias, 0.0)  # (B, L, width)
    expected = np.stack([hidden[b][ids[b] != 0].max(axis=0) if np.any(ids[b]) else np.zeros(7) for b in range(3)])
    got = np.asarray(encoder(ids))
    assert got.shape == (3, 7)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got[1], 0.0)


def test_encoder_keras_round_trip_keeps_tokenizer_and_outputs(vocabulary, tmp_path):
    encoder = text.MMVTextEncoder(vocabulary, embedding_dim=8, width=16, freeze_embedding=True)
    ids = encoder.tokenizer(tf.constant(CORPUS))
    path = tmp_path / "mmv_text.keras"
    encoder.save(path)
    restored = keras.models.load_model(path)
    assert isinstance(restored, text.MMVTextEncoder)
    assert restored.tokenizer.vocabulary == vocabulary and restored.tokenizer.sequence_length == 16
    assert not restored.get_layer("word_embedding").trainable
    np.testing.assert_array_equal(np.asarray(restored(ids)), np.asarray(encoder(ids)))
    sized = text.MMVTextEncoder(50, embedding_dim=4, width=8)
    assert sized.tokenizer is None and sized.vocabulary_size == 50
    assert text.MMVTextEncoder.from_config(sized.get_config()).vocabulary_size == 50


@pytest.mark.parametrize("freeze", [True, False])
def test_gradient_reaches_every_trainable_weight(vocabulary, freeze):
    encoder = text.MMVTextEncoder(vocabulary, embedding_dim=8, width=16, freeze_embedding=freeze)
    ids = encoder.tokenizer(tf.constant(CORPUS))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(encoder(ids) - 1.0))
    grads = tape.gradient(loss, encoder.trainable_weights)
    names = [w.path for w in encoder.trainable_weights]
    assert ("word_embedding/embeddings" in names) == (not freeze)
    assert all(g is not None and np.any(np.asarray(tf.convert_to_tensor(g))) for g in grads)


@pytest.mark.parametrize("suffix", [".txt", ".txt.gz", ".bin"])
def test_word_vectors_from_file_initialise_a_frozen_embedding(vocabulary, tmp_path, suffix):
    vectors = {"five": [1.0, 2.0, 3.0], "The": [4.0, 5.0, 6.0], "zebra": [7.0, 8.0, 9.0], "seven": [0.5, 0.5, 0.5]}
    path = tmp_path / f"vectors{suffix}"
    if suffix == ".bin":
        with open(path, "wb") as f:
            f.write(f"{len(vectors)} 3\n".encode())
            for word, v in vectors.items():
                f.write(word.encode() + b" " + np.asarray(v, "<f4").tobytes() + b"\n")
    else:
        lines = [f"{len(vectors)} 3"] + [f"{w} " + " ".join(map(str, v)) for w, v in vectors.items()]
        opener = gzip.open if suffix.endswith(".gz") else open
        with opener(path, "wt", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
    encoder = text.MMVTextEncoder.from_word_vectors(path, vocabulary, width=8)
    table = np.asarray(encoder.get_layer("word_embedding").embeddings)
    assert table.shape == (9, 3) and encoder.words_found == 3  # five, the (matched lower-cased), seven
    np.testing.assert_array_equal(table[vocabulary.index("five")], [1, 2, 3])
    np.testing.assert_array_equal(table[vocabulary.index("the")], [4, 5, 6])
    np.testing.assert_array_equal(table[0], 0.0)
    assert "word_embedding/embeddings" not in [w.path for w in encoder.trainable_weights]


def test_saved_text_encoder_serves_raw_strings(vocabulary, tmp_path):
    import sslzoo.export
    import sslzoo.export.text_adapter  # noqa: F401  registers the "text" adapter

    encoder = text.MMVTextEncoder(vocabulary, embedding_dim=8, width=16)
    path = sslzoo.export.save(encoder, str(tmp_path / "mmv_text"))
    serve = tf.saved_model.load(path).signatures["serving_default"]
    strings = ["The SEVEN moves left!", "an unseen zebra", ""]
    served = serve(text=tf.constant(strings))["embedding"].numpy()
    np.testing.assert_allclose(served, np.asarray(encoder(encoder.tokenizer(tf.constant(strings)))), atol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    (dict(vocabulary=["[UNK]", "[PAD]", "a"]), "vocabulary"),
    (dict(vocabulary=["[PAD]", "[UNK]", "two words"]), "vocabulary"),
    (dict(vocabulary=["[PAD]", "[UNK]", "##piece"]), "vocabulary"),
    (dict(vocabulary=1), "vocabulary"),
    (dict(vocabulary=10, width=0), "width"),
    (dict(vocabulary=10, sequence_length=0), "sequence_length"),
])
def test_bad_arguments_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        text.MMVTextEncoder(**kwargs)


def test_learn_word_vocabulary_bad_arguments():
    with pytest.raises(ValueError, match="size"):
        text.learn_word_vocabulary(CORPUS, size=2)
    with pytest.raises(ValueError, match="texts"):
        text.learn_word_vocabulary([], size=10)
