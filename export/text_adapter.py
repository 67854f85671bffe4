"""The text input adapter: raw strings -> token ids, so text towers export on raw text.

Importing this module registers it under the modality "text":

    import sslzoo.export.text_adapter  # noqa: F401  (registers "text")
    sslzoo.export.save(clip.text_tower, "out/clip_text")   # serving_default(text=tf.string [batch])

It accepts an encoder whose input is int token ids (batch, L) and which carries a
`tokenizer` attribute (an `sslzoo.text.Tokenizer` as `CLIP.text_tower` has, or the
`sslzoo.text.WordTokenizer` of `sslzoo.text.MMVTextEncoder`), or is given one
(`adapter_for(encoder, "text", tokenizer=model.tokenizer)`, as the per-modality
export does for CLIP, whose text encoder has none). The tokenizer runs inside the
SavedModel graph; both sslzoo tokenizers use tensorflow-text's
`FastWordpieceTokenizer`, which has no lookup tables, so nothing but its vocabulary
buffer is captured. Formats "saved_model" and "hub" work; "tflite" does not: the
tokenizers' ops (FastBertNormalize, FastWordpieceTokenize, case folding) are
tensorflow-text custom ops that the TFLite converter rejects, and
`sslzoo.export.tflite` converts the raw-input signatures too.
"""
import tensorflow as tf

from sslzoo.export.adapters import InputAdapter, encoder_input_shape, register_adapter


def describe_tokenizer(tokenizer, sequence_length):
    """One line for the model card: what `tokenizer` does to a string, by its kind."""
    from sslzoo import text

    size = getattr(tokenizer, "vocabulary_size", None)
    if isinstance(tokenizer, text.WordTokenizer):
        return (f"sslzoo.text.WordTokenizer inside the graph: Unicode case folding, punctuation and symbols "
                f"to spaces, whitespace split, whole-word lookup ({size} words; unknown words -> [UNK] = 1), "
                f"the first {sequence_length} words, padded with [PAD] = 0")
    if isinstance(tokenizer, text.Tokenizer):
        return (f"sslzoo.text.Tokenizer inside the graph: BERT normalisation (lower case, accents "
                f"stripped), whitespace/punctuation split, WordPiece ({size} tokens), [START] ... [END], "
                f"padded or cut to {sequence_length}")
    vocabulary = f" ({size} tokens)" if size else ""
    return (f"{type(tokenizer).__module__}.{type(tokenizer).__name__}{vocabulary} inside the graph: strings -> "
            f"token ids, {sequence_length} per text")


class TextAdapter(InputAdapter):
    """tf.string (B,) -> int32 token ids (B, L) by a tokenizer layer.

    Args:
      encoder: built `keras.Model`, int token ids (B, L) -> (B, F).
      tokenizer: Keras layer strings (B,) -> int32 ids (B, L) with a `sequence_length`;
        None takes `encoder.tokenizer`.
    """

    modality = "text"

    def __init__(self, encoder, tokenizer=None):
        super().__init__(encoder)
        tokenizer = tokenizer if tokenizer is not None else getattr(encoder, "tokenizer", None)
        shape = self.input_shape
        if not (len(shape) == 2 and shape[1] is not None) or tokenizer is None:
            raise ValueError(
                f"`model` must take token ids (batch, L) and carry a `tokenizer` (or be given `tokenizer`); "
                f"got input shape {shape} and tokenizer {tokenizer!r}"
            )
        if not callable(tokenizer):
            raise ValueError(f"`tokenizer` must be a Keras layer strings (B,) -> ids (B, L), got {tokenizer!r}")
        self.tokenizer = tokenizer
        self.sequence_length = int(shape[1])
        length = getattr(tokenizer, "sequence_length", self.sequence_length)
        if length != self.sequence_length:
            raise ValueError(f"`tokenizer` pads to {length} tokens but `model` takes {self.sequence_length}")

    @classmethod
    def matches(cls, encoder):
        shape = encoder_input_shape(encoder)
        return len(shape) == 2 and shape[1] is not None and getattr(encoder, "tokenizer", None) is not None

    @property
    def raw_spec(self):
        return tf.TensorSpec([None], tf.string, name="text")

    @property
    def fixed_spec(self):
        return self.raw_spec

    @property
    def model_spec(self):
        return tf.TensorSpec([None, self.sequence_length], tf.int32, name="token_ids")

    def preprocess(self, raw):
        return tf.cast(self.tokenizer(raw), tf.int32)

    def describe(self):
        return {
            "raw": "tf.string texts [batch]",
            "model": f"int32 token ids [batch, {self.sequence_length}]",
            "preprocessing": describe_tokenizer(self.tokenizer, self.sequence_length),
        }


register_adapter("text", TextAdapter)
