"""sslzoo.text: WordPiece vocabulary, the Tokenizer layer and the text encoders."""
import numpy as np
import pytest

CORPUS = ["a handwritten seven.", "the number seven written by hand!", "a drawing of the digit two",
          "the digit two, drawn by hand"] * 3


@pytest.fixture(scope="module")
def vocabulary():
    from sslzoo import text

    return text.learn_vocabulary(CORPUS, vocabulary_size=200)


def _ids(vocabulary, words):
    """Independent expectation: whole-word vocabulary lookup."""
    return [vocabulary.index(w) for w in words]


def test_vocabulary_has_reserved_tokens_then_corpus_words(vocabulary):
    from sslzoo import text

    assert tuple(vocabulary[:4]) == text.RESERVED_TOKENS == ("[PAD]", "[UNK]", "[START]", "[END]")
    for word in ("handwritten", "seven", "digit", "two", "hand", ",", "!"):
        assert word in vocabulary, word


def test_round_trip_gives_lower_cased_words(vocabulary):
    import tensorflow as tf
    from sslzoo import text

    tokenizer = text.Tokenizer(vocabulary, sequence_length=12)
    strings = ["A HANDWRITTEN Seven", "the Digit two, drawn by hand!"]
    back = tokenizer.detokenize(tokenizer(tf.constant(strings))).numpy().astype(str)
    assert list(back) == ["a handwritten seven", "the digit two , drawn by hand !"]


def test_ids_padding_and_special_tokens(vocabulary):
    import tensorflow as tf
    from sslzoo import text

    tokenizer = text.Tokenizer(vocabulary, sequence_length=8)
    ids = tokenizer(tf.constant(["a handwritten seven", "two"])).numpy()
    assert ids.dtype == np.int32 and ids.shape == (2, 8)
    start, end = vocabulary.index("[START]"), vocabulary.index("[END]")
    assert ids[0].tolist() == [start] + _ids(vocabulary, ["a", "handwritten", "seven"]) + [end, 0, 0, 0]
    assert ids[1].tolist() == [start] + _ids(vocabulary, ["two"]) + [end, 0, 0, 0, 0, 0]


def test_truncation_keeps_first_tokens_and_end(vocabulary):
    import tensorflow as tf
    from sslzoo import text

    tokenizer = text.Tokenizer(vocabulary, sequence_length=5)
    ids = tokenizer(tf.constant(["the number seven written by hand"])).numpy()[0]
    words = ["the", "number", "seven"]
    assert ids.tolist() == [vocabulary.index("[START]")] + _ids(vocabulary, words) + [vocabulary.index("[END]")]


def test_unknown_words_become_unk(vocabulary):
    import tensorflow as tf
    from sslzoo import text

    tokenizer = text.Tokenizer(vocabulary, sequence_length=6)
    ids = tokenizer(tf.constant(["a zebra quiz seven"])).numpy()[0]  # z, q never occur in the corpus
    unk = vocabulary.index("[UNK]")
    assert ids[1:5].tolist() == [vocabulary.index("a"), unk, unk, vocabulary.index("seven")]


def test_tokenizer_runs_in_tf_data_and_round_trips_config(vocabulary):
    import keras
    import tensorflow as tf
    from sslzoo import text

    tokenizer = text.Tokenizer(vocabulary, sequence_length=8)
    dataset = tf.data.Dataset.from_tensor_slices(["a seven", "the digit two"]).batch(2).map(tokenizer)
    batch = next(iter(dataset)).numpy()
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(tokenizer))
    np.testing.assert_array_equal(restored(tf.constant(["a seven", "the digit two"])).numpy(), batch)
    assert restored.vocabulary == vocabulary


def test_tokenizer_bad_input_raises(vocabulary):
    import tensorflow as tf
    from sslzoo import text

    with pytest.raises(ValueError, match="vocabulary"):
        text.Tokenizer(["a", "b"], 8)
    with pytest.raises(ValueError, match="sequence_length"):
        text.Tokenizer(vocabulary, 2)
    with pytest.raises(ValueError, match="strings"):
        text.Tokenizer(vocabulary, 8).tokenize(tf.constant([[1, 2]]))
    with pytest.raises(ValueError, match="vocabulary_size"):
        text.learn_vocabulary(CORPUS, vocabulary_size=4)
    with pytest.raises(ValueError, match="texts"):
        text.learn_vocabulary([], vocabulary_size=50)


IDS = np.array([[2, 7, 9, 11, 3, 0, 0, 0], [2, 5, 3, 0, 0, 0, 0, 0]], np.int32)


def test_bag_of_words_is_the_mean_of_non_pad_embeddings():
    from sslzoo import text

    encoder = text.BagOfWordsTextEncoder(vocabulary_size=20, sequence_length=8, width=6)
    table = encoder.get_layer("token_embedding").embeddings.numpy()
    expected = np.stack([table[row[row != 0]].mean(axis=0) for row in IDS])
    # float32 embedding lookup + LayerNorm (D = 16 terms): eps32 x 16 ~ 2e-6 relative.
    np.testing.assert_allclose(encoder(IDS).numpy(), expected, rtol=1e-5, atol=1e-6)


def _layer_norm(x, gamma, beta, eps=1e-5):
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def _numpy_transformer(encoder, ids, causal):
    """Independent numpy forward pass of a 1-block TransformerTextEncoder."""
    from scipy.special import erf

    get = lambda layer: [w.numpy() for w in encoder.get_layer(layer).weights]
    tokens, positions = get("embedding")
    x = tokens[ids] + positions[None, :ids.shape[1]]
    block = encoder.get_layer("block_0")
    ln1 = [w.numpy() for w in block.attention_norm.weights]
    (wq, bq, wk, bk, wv, bv, wo, bo) = [w.numpy() for w in block.attention.weights]
    ln2 = [w.numpy() for w in block.mlp_norm.weights]
    w1, b1 = [w.numpy() for w in block.mlp_hidden.weights]
    w2, b2 = [w.numpy() for w in block.mlp_output.weights]
    h = _layer_norm(x, *ln1)
    q = np.einsum("blw,whd->blhd", h, wq) + bq
    k = np.einsum("blw,whd->blhd", h, wk) + bk
    v = np.einsum("blw,whd->blhd", h, wv) + bv
    logits = np.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(q.shape[-1])
    allowed = (ids != 0)[:, None, None, :]
    if causal:
        allowed = allowed & np.tril(np.ones((ids.shape[1],) * 2, bool))[None, None]
    logits = np.where(allowed, logits, -1e9)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    x = x + np.einsum("bhqk,bkhd,hdw->bqw", weights, v, wo) + bo
    hidden = _layer_norm(x, *ln2) @ w1 + b1
    hidden = 0.5 * hidden * (1 + erf(hidden / np.sqrt(2)))
    x = _layer_norm(x + hidden @ w2 + b2, *get("final_norm"))
    end = np.argmax(ids == 3, axis=1)
    return x[np.arange(len(ids)), end]


@pytest.mark.parametrize("causal", [True, False])
def test_transformer_matches_numpy_forward(causal):
    from sslzoo import text

    encoder = text.TransformerTextEncoder(20, 8, width=8, depth=1, heads=2, causal=causal)
    # float32 transformer vs float64 numpy: ~6 chained D=16-term matmuls, softmax and LayerNorms
    # -> eps32 x ~100 terms x |activation| <= ~8 ~ 1e-4 relative worst case.
    np.testing.assert_allclose(encoder(IDS).numpy(), _numpy_transformer(encoder, IDS, causal),
                               rtol=1e-4, atol=1e-5)


def test_transformer_pools_at_end_token_and_ignores_padding():
    from sslzoo import text

    encoder = text.TransformerTextEncoder(20, 8, width=8, depth=2, heads=2)
    base = encoder(IDS).numpy()
    after_end = IDS.copy()
    after_end[0, 5] = 12  # a token after [END]: causal attention cannot see it from [END]
    # masked tokens contribute exp(-1e9) = 0 exactly; the rest is the same float32 graph: ~eps32 x |x|.
    np.testing.assert_allclose(encoder(after_end).numpy(), base, atol=1e-6)
    before_end = IDS.copy()
    before_end[0, 2] = 12
    assert np.abs(encoder(before_end).numpy()[0] - base[0]).max() > 1e-4


def test_text_encoders_keras_round_trip(tmp_path):
    import keras
    from sslzoo import text

    for encoder in (text.TransformerTextEncoder(20, 8, width=8, depth=2, heads=2, causal=False),
                    text.BagOfWordsTextEncoder(20, 8, width=6)):
        path = str(tmp_path / f"{encoder.name}.keras")
        encoder.save(path)
        restored = keras.saving.load_model(path)
        assert type(restored) is type(encoder) and restored.get_config() == encoder.get_config()
        # restored weights are bitwise equal; the same float32 graph: ~eps32 x |x| <= 1e-6.
        np.testing.assert_allclose(restored(IDS).numpy(), encoder(IDS).numpy(), atol=1e-6)


def test_text_encoder_bad_arguments_raise():
    from sslzoo import text

    with pytest.raises(ValueError, match="width"):
        text.TransformerTextEncoder(20, 8, width=10, depth=1, heads=4)
    with pytest.raises(ValueError, match="depth"):
        text.TransformerTextEncoder(20, 8, width=8, depth=0, heads=2)
    with pytest.raises(ValueError, match="vocabulary_size"):
        text.BagOfWordsTextEncoder(0, 8)
