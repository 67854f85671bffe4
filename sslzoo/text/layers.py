"""Building blocks of the text encoders: embeddings, a pre-norm Transformer block, pooling.

Every layer takes token ids or activations of a fixed sequence length L and
treats id 0 (`[PAD]`) as padding.
"""
import keras
from keras import ops

from sslzoo.text.tokenizer import END_ID, PAD_ID


@keras.saving.register_keras_serializable(package="sslzoo")
class TokenAndPositionEmbedding(keras.layers.Layer):
    """Token ids (B, L) int -> token embedding + learned position embedding (B, L, width)."""

    def __init__(self, vocabulary_size, sequence_length, width, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size, self.sequence_length, self.width = int(vocabulary_size), int(sequence_length), int(width)
        self.token_embedding = keras.layers.Embedding(self.vocabulary_size, self.width, name="token_embedding",
                                                      embeddings_initializer=keras.initializers.RandomNormal(0.0, 0.02))
        self.position_embedding = keras.layers.Embedding(self.sequence_length, self.width, name="position_embedding",
                                                         embeddings_initializer=keras.initializers.RandomNormal(0.0, 0.01))

    def build(self, input_shape):
        self.token_embedding.build(input_shape)
        self.position_embedding.build((self.sequence_length,))
        self.built = True

    def call(self, ids):
        positions = self.position_embedding(ops.arange(self.sequence_length))
        return self.token_embedding(ids) + positions[None]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.width,)

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size,
                "sequence_length": self.sequence_length, "width": self.width}


def attention_mask(ids, causal):
    """Which keys each query may attend to: ids (B, L) -> bool (B, L, L).

    Padding keys are masked; with `causal`, so are the keys after the query.
    The first token ([START]) is never padding, so no row is fully masked.
    """
    keys = ops.not_equal(ids, PAD_ID)[:, None, :]  # (B, 1, L)
    if not causal:
        return ops.broadcast_to(keys, (ops.shape(ids)[0], ops.shape(ids)[1], ops.shape(ids)[1]))
    length = ops.shape(ids)[1]
    lower = ops.greater_equal(ops.arange(length)[:, None], ops.arange(length)[None, :])  # (L, L)
    return ops.logical_and(keys, lower[None])


@keras.saving.register_keras_serializable(package="sslzoo")
class TransformerBlock(keras.layers.Layer):
    """Pre-norm block: x + MHA(LN(x)), then x + MLP(LN(x)); (B, L, width) -> (B, L, width).

    Args:
      width: model width; heads: attention heads (dividing width);
      mlp_ratio: hidden width of the MLP over `width`; dropout: rate in both branches.
    """

    def __init__(self, width, heads, mlp_ratio=4, dropout=0.0, **kwargs):
        super().__init__(**kwargs)
        if width % heads:
            raise ValueError(f"`width` ({width}) must be divisible by `heads` ({heads})")
        self.width, self.heads, self.mlp_ratio, self.dropout = int(width), int(heads), int(mlp_ratio), float(dropout)
        self.attention_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="attention_norm")
        self.attention = keras.layers.MultiHeadAttention(self.heads, self.width // self.heads,
                                                         dropout=self.dropout, name="attention")
        self.mlp_norm = keras.layers.LayerNormalization(epsilon=1e-5, name="mlp_norm")
        self.mlp_hidden = keras.layers.Dense(self.width * self.mlp_ratio, activation="gelu", name="mlp_hidden")
        self.mlp_output = keras.layers.Dense(self.width, name="mlp_output")
        self.dropout_layer = keras.layers.Dropout(self.dropout)

    def build(self, x_shape, mask_shape=None):
        self.attention_norm.build(x_shape)
        self.attention.build(x_shape, x_shape)
        self.mlp_norm.build(x_shape)
        self.mlp_hidden.build(x_shape)
        self.mlp_output.build(tuple(x_shape[:-1]) + (self.width * self.mlp_ratio,))
        self.built = True

    def call(self, x, mask, training=False):
        """x (B, L, width), mask bool (B, L, L) from `attention_mask` -> (B, L, width)."""
        normed = self.attention_norm(x)
        x = x + self.dropout_layer(self.attention(normed, normed, attention_mask=mask, training=training),
                                   training=training)
        hidden = self.mlp_output(self.mlp_hidden(self.mlp_norm(x)))
        return x + self.dropout_layer(hidden, training=training)

    def compute_output_shape(self, x_shape, mask_shape=None):
        return x_shape

    def get_config(self):
        return {**super().get_config(), "width": self.width, "heads": self.heads,
                "mlp_ratio": self.mlp_ratio, "dropout": self.dropout}


@keras.saving.register_keras_serializable(package="sslzoo")
class AttentionMask(keras.layers.Layer):
    """Token ids (B, L) -> bool attention mask (B, L, L), see `attention_mask`."""

    def __init__(self, causal=True, **kwargs):
        super().__init__(**kwargs)
        self.causal = bool(causal)

    def call(self, ids):
        return attention_mask(ids, self.causal)

    def compute_output_spec(self, ids):
        return keras.KerasTensor((ids.shape[0], ids.shape[1], ids.shape[1]), dtype="bool")

    def get_config(self):
        return {**super().get_config(), "causal": self.causal}


@keras.saving.register_keras_serializable(package="sslzoo")
class EndTokenPooling(keras.layers.Layer):
    """x (B, L, W) and ids (B, L) -> x at each row's first `[END]` token (B, W)."""

    def call(self, x, ids):
        return gather_positions(x, end_token_positions(ids))

    def compute_output_shape(self, x_shape, ids_shape=None):
        return (x_shape[0], x_shape[2])


@keras.saving.register_keras_serializable(package="sslzoo")
class MaskedMeanPooling(keras.layers.Layer):
    """x (B, L, W) and ids (B, L) -> mean of x over the non-pad tokens (B, W)."""

    def call(self, x, ids):
        return masked_mean(x, ids)

    def compute_output_shape(self, x_shape, ids_shape=None):
        return (x_shape[0], x_shape[2])


def end_token_positions(ids):
    """Index of the first `[END]` token of each row: ids (B, L) -> int32 (B,); the last position if none."""
    is_end = ops.equal(ids, END_ID)
    length = ops.shape(ids)[1]
    first = ops.argmax(ops.cast(is_end, "int32"), axis=1)
    return ops.cast(ops.where(ops.any(is_end, axis=1), first, length - 1), "int32")


def gather_positions(x, positions):
    """x (B, L, W), positions int (B,) -> x[b, positions[b]] (B, W)."""
    one_hot = ops.one_hot(positions, ops.shape(x)[1], dtype=x.dtype)  # (B, L)
    return ops.einsum("bl,blw->bw", one_hot, x)


def masked_mean(x, ids):
    """Mean of x (B, L, W) over the non-pad positions of ids (B, L) -> (B, W)."""
    weights = ops.cast(ops.not_equal(ids, PAD_ID), x.dtype)[..., None]
    return ops.sum(x * weights, axis=1) / ops.maximum(ops.sum(weights, axis=1), 1.0)
