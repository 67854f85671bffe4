"""Text encoders: token ids (B, L) int32 -> pooled representation (B, width).

    encoder = TransformerTextEncoder(vocabulary_size=500, sequence_length=16, width=64, depth=2, heads=4)
    h = encoder(tokenizer(tf.constant(["a handwritten seven"])))   # (1, 64)

Both are functional `keras.Model`s (keras-hub style: the graph is built in the
constructor, the config is the constructor's arguments), so they have an input
shape for export and round-trip through `.keras` files.
"""
import keras

from sslzoo.text import layers


def _check_positive(**values):
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"`{name}` must be a positive int, got {value!r}")


class _FunctionalTextEncoder(keras.Model):
    """Shared config handling: `self.arguments` are the constructor's keyword arguments."""

    def get_config(self):
        return {"name": self.name, **self.arguments}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@keras.saving.register_keras_serializable(package="sslzoo")
class TransformerTextEncoder(_FunctionalTextEncoder):
    """CLIP's text Transformer: embeddings, `depth` pre-norm blocks, final LayerNorm, end-token pooling.

    Input: int32 token ids (B, L) from `sslzoo.text.Tokenizer` (`[START] ... [END] [PAD]...`).
    Output: float32 (B, width), the final-LayerNorm activation at each row's `[END]` token.

    Args:
      vocabulary_size: number of token ids; sequence_length: L.
      width: model width; depth: number of blocks; heads: attention heads.
      mlp_ratio: MLP hidden width over `width`; dropout: rate inside the blocks.
      causal: causal self-attention (CLIP) if True, else bidirectional; padding
        keys are masked either way.
    """

    def __init__(self, vocabulary_size, sequence_length, width=64, depth=2, heads=4, mlp_ratio=4,
                 dropout=0.0, causal=True, name="transformer_text_encoder", **kwargs):
        _check_positive(vocabulary_size=vocabulary_size, sequence_length=sequence_length, width=width,
                        depth=depth, heads=heads, mlp_ratio=mlp_ratio)
        ids = keras.Input((sequence_length,), dtype="int32", name="token_ids")
        x = layers.TokenAndPositionEmbedding(vocabulary_size, sequence_length, width, name="embedding")(ids)
        mask = layers.AttentionMask(causal, name="attention_mask")(ids)
        for i in range(depth):
            x = layers.TransformerBlock(width, heads, mlp_ratio, dropout, name=f"block_{i}")(x, mask)
        x = keras.layers.LayerNormalization(epsilon=1e-5, name="final_norm")(x)
        pooled = layers.EndTokenPooling(name="end_token_pooling")(x, ids)
        super().__init__(ids, pooled, name=name, **kwargs)
        self.arguments = {"vocabulary_size": vocabulary_size, "sequence_length": sequence_length,
                          "width": width, "depth": depth, "heads": heads, "mlp_ratio": mlp_ratio,
                          "dropout": float(dropout), "causal": bool(causal)}


@keras.saving.register_keras_serializable(package="sslzoo")
class BagOfWordsTextEncoder(_FunctionalTextEncoder):
    """Mean of token embeddings over the non-pad tokens: ids (B, L) int32 -> (B, width).

    A tiny, order-blind text encoder for tests and quick baselines.

    Args:
      vocabulary_size: number of token ids; sequence_length: L; width: embedding width.
    """

    def __init__(self, vocabulary_size, sequence_length, width=32, name="bag_of_words_text_encoder", **kwargs):
        _check_positive(vocabulary_size=vocabulary_size, sequence_length=sequence_length, width=width)
        ids = keras.Input((sequence_length,), dtype="int32", name="token_ids")
        embedded = keras.layers.Embedding(vocabulary_size, width, name="token_embedding")(ids)
        pooled = layers.MaskedMeanPooling(name="masked_mean")(embedded, ids)
        super().__init__(ids, pooled, name=name, **kwargs)
        self.arguments = {"vocabulary_size": vocabulary_size, "sequence_length": sequence_length, "width": width}
