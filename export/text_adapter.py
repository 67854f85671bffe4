"""The text input adapter: raw strings -> token ids, so text towers export on raw text.

Importing this module registers it under the modality "text":

    import sslzoo.export.text_adapter  # noqa: F401  (registers "text")
    sslzoo.export.save(clip.text_tower, "out/clip_text")   # serving_default(text=tf.string [batch])

It accepts an encoder whose input is int token ids (batch, L) and which carries a
`tokenizer` attribute (an `sslzoo.text.Tokenizer`, as `CLIP.text_tower` has). The
tokenizer (lower-casing, punctuation split, WordPiece, [START]/[END], padding to L)
runs inside the SavedModel graph; it has no lookup tables, so nothing but the
tokenizer's vocabulary buffer is captured. Formats "saved_model" and "hub" work;
"tflite" does not: the tokenizer's ops (FastBertNormalize, FastWordpieceTokenize)
are tensorflow-text custom ops that the TFLite converter rejects, and
`sslzoo.export.tflite` converts the raw-input signatures too.
"""
import tensorflow as tf

from sslzoo.export.adapters import InputAdapter, encoder_input_shape, register_adapter


class TextAdapter(InputAdapter):
    """tf.string (B,) -> int32 token ids (B, L) by the encoder's `tokenizer` layer."""

    modality = "text"

    def __init__(self, encoder):
        super().__init__(encoder)
        if not self.matches(encoder):
            raise ValueError(
                f"`model` must take token ids (batch, L) and carry a `tokenizer`; got input shape "
                f"{self.input_shape} and tokenizer {getattr(encoder, 'tokenizer', None)!r}"
            )
        self.tokenizer = encoder.tokenizer
        self.sequence_length = int(self.input_shape[1])
        if self.tokenizer.sequence_length != self.sequence_length:
            raise ValueError(f"the tokenizer pads to {self.tokenizer.sequence_length} tokens but `model` "
                             f"takes {self.sequence_length}")

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
        return self.tokenizer(raw)

    def describe(self):
        return {
            "raw": "tf.string texts [batch]",
            "model": f"int32 token ids [batch, {self.sequence_length}]",
            "preprocessing": (
                f"sslzoo.text.Tokenizer inside the graph: BERT normalisation (lower case, accents "
                f"stripped), whitespace/punctuation split, WordPiece ({self.tokenizer.vocabulary_size} "
                f"tokens), [START] ... [END], padded or cut to {self.sequence_length}"
            ),
        }


register_adapter("text", TextAdapter)
