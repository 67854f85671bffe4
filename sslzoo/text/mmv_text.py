"""MMV's text encoder: words -> (frozen) word embeddings -> Conv1D(k=1) -> ReLU -> max over words.

    vocabulary = learn_word_vocabulary(narrations, size=5000)       # ["[PAD]", "[UNK]", words...]
    encoder = MMVTextEncoder(vocabulary, sequence_length=16, width=2048)
    ids = encoder.tokenizer(tf.constant(["Fold the dough in half."]))   # int32 (1, 16)
    h = encoder(ids)                                                      # (1, 2048)

    # with pre-trained word vectors (word2vec / GloVe text, or word2vec binary):
    encoder = MMVTextEncoder.from_word_vectors("GoogleNews-vectors-negative300.bin", vocabulary)

Words are what `split_words` makes of a string: lower-cased (Unicode case
folding), punctuation and symbols turned into spaces, split on whitespace
(tensorflow-text). Each word maps to one id: 0 pads, 1 is out of vocabulary.
The lookup is tensorflow-text's `FastWordpieceTokenizer` over a vocabulary of
whole words (no "##" pieces), which matches a word exactly or returns "[UNK]";
it holds no lookup table, so the tokenizer traces into a SavedModel as
`sslzoo.text.Tokenizer` does and `sslzoo.export.text_adapter` serves raw strings.
"""
import gzip
from collections import Counter

import keras
import numpy as np
import tensorflow as tf
import tensorflow_text as text
from keras import ops

from sslzoo.text.encoders import _FunctionalTextEncoder
from sslzoo.text.tokenizer import PAD, PAD_ID, UNK, UNK_ID

RESERVED_WORDS = (PAD, UNK)  # ids PAD_ID = 0 and UNK_ID = 1
MMV_SEQUENCE_LENGTH = 16
_PUNCTUATION_AND_SYMBOLS = r"[\p{P}\p{S}]+"


def split_words(strings):
    """Strings (B,) -> ragged tf.string words (B, None): case-folded, punctuation/symbols removed."""
    strings = tf.convert_to_tensor(strings)
    if strings.dtype != tf.string or strings.shape.rank != 1:
        raise ValueError(f"`strings` must be a rank-1 tf.string tensor (batch,); received dtype "
                         f"{strings.dtype.name} shape {strings.shape}")
    folded = text.case_fold_utf8(strings)
    return text.WhitespaceTokenizer().tokenize(tf.strings.regex_replace(folded, _PUNCTUATION_AND_SYMBOLS, " "))


def learn_word_vocabulary(texts, size=10000, min_count=1):
    """The `size` most useful words of a corpus as an MMV word vocabulary.

    Args:
      texts: iterable of Python strings, or a tf.data.Dataset of string scalars.
      size: the largest vocabulary to return, the reserved words included.
      min_count: a word must occur this many times to be kept.
    Returns:
      list of str: `RESERVED_WORDS` ("[PAD]", "[UNK]"), then the words (as
      `split_words` makes them) by decreasing count, ties alphabetical.
    """
    if not isinstance(size, int) or size <= len(RESERVED_WORDS):
        raise ValueError(f"`size` must be an int above {len(RESERVED_WORDS)} (the reserved words); received size={size!r}")
    if not isinstance(min_count, int) or min_count < 1:
        raise ValueError(f"`min_count` must be a positive int; received min_count={min_count!r}")
    if isinstance(texts, tf.data.Dataset):
        dataset = texts
    else:
        texts = [str(t) for t in texts]
        if not texts:
            raise ValueError("`texts` must hold at least one string; received an empty corpus")
        dataset = tf.data.Dataset.from_tensor_slices(texts)
    counts = Counter()
    for batch in dataset.batch(1024).map(split_words):
        counts.update(word.decode("utf-8") for word in batch.flat_values.numpy())
    ranked = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
    return list(RESERVED_WORDS) + ranked[:size - len(RESERVED_WORDS)]


def _check_vocabulary(vocabulary):
    vocabulary = [str(word) for word in vocabulary]
    if tuple(vocabulary[:len(RESERVED_WORDS)]) != RESERVED_WORDS:
        raise ValueError(f"`vocabulary` must start with {RESERVED_WORDS}; received {vocabulary[:2]}")
    if len(set(vocabulary)) != len(vocabulary):
        raise ValueError("`vocabulary` must not repeat words")
    bad = [w for w in vocabulary[len(RESERVED_WORDS):] if not w or w.startswith("##") or w.split() != [w]]
    if bad:
        raise ValueError(f"`vocabulary` words must be non-empty, without whitespace and not start with '##'; "
                         f"received {bad[:5]}")
    return vocabulary


@keras.saving.register_keras_serializable(package="sslzoo")
class WordTokenizer(keras.layers.Layer):
    """Strings (B,) -> int32 word ids (B, sequence_length): the first L words, then 0 (pad).

    Args:
      vocabulary: list of words starting with `RESERVED_WORDS` ("[PAD]", "[UNK]"),
        e.g. from `learn_word_vocabulary`; words outside it get id 1.
      sequence_length: L, the most words kept (MMV: 16).
    """

    def __init__(self, vocabulary, sequence_length=MMV_SEQUENCE_LENGTH, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        if not isinstance(sequence_length, int) or sequence_length < 1:
            raise ValueError(f"`sequence_length` must be a positive int; received sequence_length={sequence_length!r}")
        self.vocabulary = _check_vocabulary(vocabulary)
        self.sequence_length = sequence_length
        self._convert_input_args = False  # strings stay strings
        self._allow_non_tensor_positional_args = True
        self.supports_jit = False
        self._lookup = text.FastWordpieceTokenizer(
            self.vocabulary, suffix_indicator="##", unknown_token=UNK, no_pretokenization=True,
            support_detokenization=False, token_out_type=tf.int32)
        self.built = True

    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    def tokenize(self, strings):
        """Strings (B,) -> ragged int32 word ids (B, None), one per word of `split_words`."""
        words = split_words(strings)
        return self._lookup.tokenize(words).merge_dims(1, 2)

    def call(self, strings):
        ids = self.tokenize(strings)[:, :self.sequence_length]
        return ids.to_tensor(default_value=PAD_ID, shape=[None, self.sequence_length])

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.sequence_length)

    def compute_output_spec(self, strings):
        return keras.KerasTensor((strings.shape[0], self.sequence_length), dtype="int32")

    def get_config(self):
        return {**super().get_config(), "vocabulary": list(self.vocabulary), "sequence_length": self.sequence_length}


def masked_max(x, ids):
    """Max of x (B, L, W) over the positions where ids (B, L) is not 0 -> (B, W); 0 for a row of pads."""
    present = ops.not_equal(ids, PAD_ID)
    masked = ops.where(present[..., None], x, ops.full_like(x, -np.inf))
    return ops.where(ops.any(present, axis=1)[:, None], ops.max(masked, axis=1), ops.zeros_like(x[:, 0]))


@keras.saving.register_keras_serializable(package="sslzoo")
class MaskedMaxPooling(keras.layers.Layer):
    """call(x (B, L, W), ids (B, L)) -> `masked_max`, (B, W)."""

    def call(self, x, ids):
        return masked_max(x, ids)

    def compute_output_shape(self, x_shape, ids_shape=None):
        return (x_shape[0], x_shape[2])


def _read_vectors(path):
    """Yields (word, vector) from a word2vec/GloVe text file (optionally gzipped) or a word2vec .bin file."""
    path = str(path)
    opener = gzip.open if path.endswith(".gz") else open
    if path.endswith(".bin") or path.endswith(".bin.gz"):
        with opener(path, "rb") as f:
            count, dim = (int(v) for v in f.readline().split())
            for _ in range(count):
                word = bytearray()
                while (char := f.read(1)) != b" ":
                    if not char:
                        raise ValueError(f"`path` {path!r} ends inside a word: not a word2vec binary file")
                    if char != b"\n":
                        word += char
                yield word.decode("utf-8", errors="replace"), np.frombuffer(f.read(4 * dim), "<f4")
        return
    with opener(path, "rt", encoding="utf-8") as f:
        for number, line in enumerate(f):
            fields = line.rstrip().split(" ")
            if number == 0 and len(fields) == 2:
                continue  # word2vec header "count dim"
            if len(fields) > 1:
                yield fields[0], np.asarray(fields[1:], np.float32)


def load_word_vectors(path, vocabulary, seed=0):
    """Embedding matrix (len(vocabulary), D) float32 for `vocabulary` from a file of word vectors.

    Args:
      path: word2vec or GloVe text ("word v1 ... vD" per line, an optional
        "count D" first line; ".gz" read compressed) or word2vec binary (".bin").
        A word is matched as is, else lower-cased.
      vocabulary: list of words starting with `RESERVED_WORDS`.
      seed: seed of the N(0, 0.1^2) rows given to words the file lacks.
    Returns:
      (matrix float32 (V, D), number of vocabulary words found). Row 0 ([PAD]) is zeros.
    """
    vocabulary = _check_vocabulary(vocabulary)
    index = {word: i for i, word in enumerate(vocabulary)}
    found, dim = {}, None
    for word, vector in _read_vectors(path):
        dim = dim or len(vector)
        if len(vector) != dim:
            raise ValueError(f"`path` {path!r} has vectors of lengths {dim} and {len(vector)}")
        for key in (word, word.lower()):
            i = index.get(key)
            if i is not None and i not in found and i >= len(RESERVED_WORDS):
                found[i] = vector
                break
    if dim is None:
        raise ValueError(f"`path` {path!r} holds no word vectors")
    matrix = np.random.default_rng(seed).normal(0.0, 0.1, (len(vocabulary), dim)).astype(np.float32)
    matrix[PAD_ID] = 0.0
    for i, vector in found.items():
        matrix[i] = vector
    return matrix, len(found)


@keras.saving.register_keras_serializable(package="sslzoo")
class MMVTextEncoder(_FunctionalTextEncoder):
    """MMV's text tower: word ids (B, L) int32 -> (B, width).

    Embedding (B, L, embedding_dim) -> Conv1D(width, kernel 1) -> ReLU -> max over
    the non-pad words (a row of pads gives zeros).

    Args:
      vocabulary: list of words (from `learn_word_vocabulary`), which also gives
        the encoder a `tokenizer` (`WordTokenizer`: strings (B,) -> ids (B, L)),
        or an int vocabulary size (no tokenizer).
      sequence_length: L, the most words per text (MMV: 16).
      embedding_dim: word-embedding size (MMV: 300, word2vec).
      width: output size (MMV: 2048).
      freeze_embedding: the embedding is not trained (MMV keeps word2vec frozen).
      name: model name.
    """

    def __init__(self, vocabulary, sequence_length=MMV_SEQUENCE_LENGTH, embedding_dim=300, width=2048,
                 freeze_embedding=False, name="mmv_text_encoder", **kwargs):
        if isinstance(vocabulary, (list, tuple)):
            tokenizer = WordTokenizer(vocabulary, sequence_length, name="word_tokenizer")
            vocabulary, vocabulary_size = list(tokenizer.vocabulary), tokenizer.vocabulary_size
        elif isinstance(vocabulary, int) and not isinstance(vocabulary, bool) and vocabulary > len(RESERVED_WORDS):
            tokenizer, vocabulary_size = None, vocabulary
        else:
            raise ValueError(f"`vocabulary` must be a list of words or an int size above {len(RESERVED_WORDS)}; "
                             f"received vocabulary={vocabulary!r}")
        for argument, value in (("sequence_length", sequence_length), ("embedding_dim", embedding_dim),
                                ("width", width)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"`{argument}` must be a positive int; received {argument}={value!r}")
        ids = keras.Input((sequence_length,), dtype="int32", name="token_ids")
        embedded = keras.layers.Embedding(vocabulary_size, embedding_dim, name="word_embedding",
                                          trainable=not freeze_embedding)(ids)
        projected = keras.layers.Conv1D(width, 1, name="word_projection")(embedded)
        projected = keras.layers.ReLU(name="relu")(projected)
        pooled = MaskedMaxPooling(name="masked_max")(projected, ids)
        super().__init__(ids, pooled, name=name, **kwargs)
        self.arguments = {"vocabulary": vocabulary, "sequence_length": sequence_length,
                          "embedding_dim": embedding_dim, "width": width,
                          "freeze_embedding": bool(freeze_embedding)}
        self.tokenizer = tokenizer

    @property
    def vocabulary_size(self):
        return self.get_layer("word_embedding").input_dim

    @classmethod
    def from_word_vectors(cls, path, vocabulary, freeze_embedding=True, seed=0, **kwargs):
        """An encoder whose embedding starts from the word vectors in `path` (see `load_word_vectors`).

        `embedding_dim` is the file's vector size; other keywords as in the constructor.
        The number of vocabulary words the file held is `encoder.words_found`.
        """
        matrix, words_found = load_word_vectors(path, vocabulary, seed=seed)
        encoder = cls(vocabulary, embedding_dim=int(matrix.shape[1]), freeze_embedding=freeze_embedding, **kwargs)
        encoder.get_layer("word_embedding").embeddings.assign(matrix)
        encoder.words_found = words_found
        return encoder


__all__ = ["MMVTextEncoder", "MaskedMaxPooling", "RESERVED_WORDS", "WordTokenizer", "learn_word_vocabulary",
           "load_word_vectors", "masked_max", "split_words"]
