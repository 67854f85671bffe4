"""WordPiece text tokenization for the text towers: vocabulary learning and a Keras layer.

    vocabulary = learn_vocabulary(captions, vocabulary_size=500)
    tokenizer = Tokenizer(vocabulary, sequence_length=16)
    ids = tokenizer(tf.constant(["a handwritten seven"]))   # int32 (1, 16)

Strings are normalised as BERT does (lower-case, accents stripped), split on
whitespace and punctuation, then cut into WordPiece tokens with tensorflow-text's
`FastWordpieceTokenizer` (no lookup tables, so the layer traces into a SavedModel
and runs in tf.data). Each row becomes `[START] tokens... [END] [PAD]...` of a
fixed length; a long text keeps its first tokens and still ends with `[END]`.
"""
import keras
import tensorflow as tf
import tensorflow_text as text
from tensorflow_text.tools.wordpiece_vocab import bert_vocab_from_dataset

PAD, UNK, START, END = "[PAD]", "[UNK]", "[START]", "[END]"
RESERVED_TOKENS = (PAD, UNK, START, END)
PAD_ID, UNK_ID, START_ID, END_ID = 0, 1, 2, 3


def learn_vocabulary(texts, vocabulary_size=1000, min_count=1):
    """Learns a WordPiece vocabulary from a corpus with tensorflow-text's BERT vocabulary tool.

    Args:
      texts: iterable of Python strings, or a tf.data.Dataset of string scalars.
      vocabulary_size: the largest vocabulary to return (reserved tokens included).
      min_count: a word (or word piece) must occur this many times to get its own
        entry; rarer words are spelled with pieces.
    Returns:
      list of strings: `RESERVED_TOKENS` first, then the learned tokens
      (continuation pieces carry the "##" prefix).
    """
    if vocabulary_size <= len(RESERVED_TOKENS):
        raise ValueError(f"`vocabulary_size` must exceed {len(RESERVED_TOKENS)} (the reserved tokens), "
                         f"got {vocabulary_size}")
    if min_count < 1:
        raise ValueError(f"`min_count` must be at least 1, got {min_count}")
    if isinstance(texts, tf.data.Dataset):
        dataset = texts
    else:
        texts = [str(t) for t in texts]
        if not texts:
            raise ValueError("`texts` must hold at least one string, got an empty corpus")
        dataset = tf.data.Dataset.from_tensor_slices(texts)
    return bert_vocab_from_dataset.bert_vocab_from_dataset(
        dataset.batch(1024),
        vocab_size=vocabulary_size,
        reserved_tokens=list(RESERVED_TOKENS),
        bert_tokenizer_params={"lower_case": True},
        learn_params={"lower_thresh": min_count},
    )


@keras.saving.register_keras_serializable(package="sslzoo")
class Tokenizer(keras.layers.Layer):
    """Strings (B,) -> int32 token ids (B, sequence_length), with START/END and padding.

    The vocabulary is part of the layer's config, so a `.keras` file carries it.

    Args:
      vocabulary: list of tokens starting with `RESERVED_TOKENS`
        ("[PAD]", "[UNK]", "[START]", "[END]"), e.g. from `learn_vocabulary`.
      sequence_length: L, the fixed output length (at least 3).
    """

    def __init__(self, vocabulary, sequence_length=16, **kwargs):
        kwargs.setdefault("trainable", False)
        super().__init__(**kwargs)
        vocabulary = [str(token) for token in vocabulary]
        if tuple(vocabulary[:len(RESERVED_TOKENS)]) != RESERVED_TOKENS:
            raise ValueError(f"`vocabulary` must start with {RESERVED_TOKENS}, got {vocabulary[:4]}")
        if len(set(vocabulary)) != len(vocabulary):
            raise ValueError("`vocabulary` must not repeat tokens")
        if int(sequence_length) < 3:
            raise ValueError(f"`sequence_length` must be at least 3 ([START], a token, [END]), "
                             f"got {sequence_length}")
        self.vocabulary = vocabulary
        self.sequence_length = int(sequence_length)
        self._convert_input_args = False  # strings stay strings
        self._allow_non_tensor_positional_args = True
        self.supports_jit = False
        self._normalizer = text.FastBertNormalizer(lower_case_nfd_strip_accents=True)
        self._wordpiece = text.FastWordpieceTokenizer(
            vocabulary, suffix_indicator="##", unknown_token=UNK, no_pretokenization=False,
            support_detokenization=True, token_out_type=tf.int32)
        self.built = True

    @property
    def vocabulary_size(self):
        return len(self.vocabulary)

    def tokenize(self, strings):
        """Strings (B,) -> ragged int32 WordPiece ids (B, None), no special tokens."""
        strings = tf.convert_to_tensor(strings)
        if strings.dtype != tf.string or strings.shape.rank != 1:
            raise ValueError(f"`strings` must be a rank-1 tf.string tensor (batch,), got "
                             f"dtype {strings.dtype.name} shape {strings.shape}")
        return self._wordpiece.tokenize(self._normalizer.normalize(strings))

    def call(self, strings):
        """Strings (B,) -> int32 (B, L): [START], the first L-2 tokens, [END], then [PAD]s."""
        pieces = self.tokenize(strings)[:, :self.sequence_length - 2]
        batch = pieces.nrows()
        start = tf.fill([batch, 1], START_ID)
        end = tf.fill([batch, 1], END_ID)
        rows = tf.concat([start, pieces, end], axis=1)
        return rows.to_tensor(default_value=PAD_ID, shape=[None, self.sequence_length])

    def detokenize(self, ids):
        """Token ids (B, L) -> strings (B,): the words between [START] and [END], space-joined."""
        ids = tf.convert_to_tensor(ids, tf.int32)
        if ids.shape.rank != 2:
            raise ValueError(f"`ids` must be (batch, length), got shape {ids.shape}")
        keep = (ids != PAD_ID) & (ids != START_ID) & (tf.cumsum(tf.cast(ids == END_ID, tf.int32), axis=1) == 0)
        return self._wordpiece.detokenize(tf.ragged.boolean_mask(ids, keep))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.sequence_length)

    def compute_output_spec(self, strings):
        return keras.KerasTensor((strings.shape[0], self.sequence_length), dtype="int32")

    def get_config(self):
        return {**super().get_config(), "vocabulary": list(self.vocabulary),
                "sequence_length": self.sequence_length}
