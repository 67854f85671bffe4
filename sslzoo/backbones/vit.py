"""Vision Transformer encoders (Dosovitskiy et al. 2021) as DINO and MoCo v3 train them.

`vit(...)` returns a functional `keras.Model` mapping float32 images in [0, 1],
shape (B, H, W, 3), to the [CLS] token after the final LayerNorm, shape (B, width).

The layout follows facebookresearch/dino vision_transformer.py (itself "mostly
copy-paste from timm"); what this file takes from it and from timm's
vision_transformer.py:

- Patch embedding: a Conv2D with kernel = stride = patch size (valid padding; a
  side that is not a multiple of the patch loses its remainder, as the strided
  conv there does), flattened row-major into (B, N, width) tokens.
- A learned [CLS] token is prepended and a learned position embedding of shape
  (1, 1 + N, width) (the [CLS] position included) is added; then dropout.
- Pre-norm blocks: x + drop_path(attn(LN(x))), then x + drop_path(mlp(LN(x)));
  attention with a bias on q, k, v (`qkv_bias=True` in DINO's vit_tiny / vit_small)
  and scale head_dim ** -0.5; MLP Linear(width, int(width * mlp_ratio)) -> exact
  (erf) GELU -> dropout -> Linear(-> width) -> dropout; LayerNorm epsilon 1e-6
  (`partial(nn.LayerNorm, eps=1e-6)`).
- Stochastic depth rates rise linearly from 0 to `drop_path` over the blocks
  (`torch.linspace(0, drop_path_rate, depth)`).
- A final LayerNorm; the output is the [CLS] token (DINO's `forward` returns
  `x[:, 0]` after `self.norm`).
- Presets: ViT-Tiny width 192, 12 blocks, 3 heads; ViT-Small 384, 12, 6; both
  patch 16, MLP ratio 4.
- Initialisation: Linear weights, the position embedding and (DINO) the [CLS]
  token from `trunc_normal_(std=.02)`, Linear biases 0, LayerNorm 1 / 0. Their
  `trunc_normal_(tensor, mean=0., std=1., a=-2., b=2.)` clamps at the ABSOLUTE
  bounds -2 and 2, i.e. at 100 standard deviations for std 0.02: the draw is in
  effect N(0, 0.02^2). Keras's `TruncatedNormal` cuts at 2 standard deviations
  (actual std ~0.0176), so this file uses `RandomNormal(stddev=0.02)`, the same
  distribution as theirs. timm draws the [CLS] token from N(0, 1e-6^2) instead;
  DINO (followed here) from the 0.02 normal. Neither re-initialises the patch
  Conv2d: it keeps PyTorch's default, kaiming_uniform(a=sqrt(5)) for the kernel,
  i.e. U(+-1/sqrt(fan_in)), and U(+-1/sqrt(fan_in)) for the bias, reproduced here
  (MoCo v3 uses Xavier-uniform there instead).
- Other input sizes (DINO's local crops): the patch part of the position
  embedding is resized bicubically to the new grid
  (`interpolate_pos_encoding`: `nn.functional.interpolate(mode='bicubic')`,
  align_corners=False, cubic coefficient a = -0.75). Here the resize is the
  same kernel at the output size (source step in / out); DINO passes a
  `scale_factor` of (n + 0.1) / sqrt(N), which moves sample points by a small
  fraction of a cell. At the build size the embedding is used as is.

Pooling "avg" (not DINO's) averages the patch tokens and then applies the final
LayerNorm (timm's `global_pool="avg"` with `fc_norm`). For "cls" the final
LayerNorm is applied to the [CLS] token alone, which equals taking it from the
normalised sequence (LayerNorm acts on each token by itself).
"""
import math

import keras
import tensorflow as tf

from sslzoo.backbones.common import check_image_shape, imagenet_normalization, keywords_of

LAYER_NORM_EPSILON = 1e-6
POOLS = ("cls", "avg")
# Bicubic convolution coefficient of PyTorch's interpolate(mode="bicubic") (OpenCV's too); TF's is -0.5.
CUBIC_A = -0.75

VIT_TINY = {"patch_size": 16, "width": 192, "depth": 12, "heads": 3, "mlp_ratio": 4.0}
VIT_SMALL = {"patch_size": 16, "width": 384, "depth": 12, "heads": 6, "mlp_ratio": 4.0}
# A CPU-size ViT for 28 x 28 digits (7 x 7 patches of 4 x 4; 16 x 16 inputs give 4 x 4).
VIT_DIGITS = {"input_shape": (28, 28, 3), "patch_size": 4, "width": 64, "depth": 4, "heads": 4, "mlp_ratio": 4.0}


def _weight_initializer():
    """N(0, 0.02^2): what timm / DINO's trunc_normal_(std=.02) draws (its cut is at +-2 absolute)."""
    return keras.initializers.RandomNormal(stddev=0.02)


def _torch_default_uniform(fan_in):
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default Conv2d kernel and bias init."""
    bound = 1.0 / math.sqrt(fan_in)
    return keras.initializers.RandomUniform(-bound, bound)


def _cubic(x):
    """Keys' cubic convolution kernel with a = CUBIC_A, on |x| (0 beyond 2)."""
    x = tf.abs(x)
    a = CUBIC_A
    near = ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
    far = ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a
    return tf.where(x <= 1.0, near, tf.where(x < 2.0, far, tf.zeros_like(x)))


def bicubic_matrix(in_size, out_size, dtype=tf.float32):
    """(out_size, in_size) matrix M such that M @ v resizes v along one axis bicubically.

    As PyTorch's `interpolate(mode="bicubic", align_corners=False)` at an output
    size: source coordinate (i + 0.5) * in / out - 0.5, four taps with weights
    from the a = -0.75 cubic kernel, indices clamped to the edges. Sizes may be
    tensors. At out_size == in_size M is the identity exactly.
    """
    in_size = tf.cast(in_size, tf.int32)
    out_size = tf.cast(out_size, tf.int32)
    scale = tf.cast(in_size, dtype) / tf.cast(out_size, dtype)
    source = (tf.cast(tf.range(out_size), dtype) + 0.5) * scale - 0.5
    start = tf.floor(source)
    fraction = source - start
    start = tf.cast(start, tf.int32)
    matrix = tf.zeros(tf.stack([out_size, in_size]), dtype)
    for tap in (-1, 0, 1, 2):
        index = tf.clip_by_value(start + tap, 0, in_size - 1)
        weight = _cubic(fraction - float(tap))
        matrix += tf.one_hot(index, in_size, dtype=dtype) * weight[:, None]
    return matrix


@keras.saving.register_keras_serializable(package="sslzoo")
class ClassTokenAndPosition(keras.layers.Layer):
    """Patch grid (B, h, w, C) -> tokens (B, 1 + h * w, C): [CLS] first, plus learned positions.

    The position embedding (1, 1 + H * W, C) is learned for the build grid
    `grid_size` = (H, W); a grid of another size gets the patch positions
    resized bicubically (`bicubic_matrix`), the [CLS] position as is.

    Args:
      grid_size: (H, W), patches per column and row at the build input size.
    """

    def __init__(self, grid_size, **kwargs):
        super().__init__(**kwargs)
        self.grid_size = tuple(int(g) for g in grid_size)

    def build(self, input_shape):
        channels = int(input_shape[-1])
        self.cls_token = self.add_weight(shape=(1, 1, channels), initializer=_weight_initializer(),
                                         name="cls_token")
        rows, cols = self.grid_size
        self.position_embedding = self.add_weight(shape=(1, 1 + rows * cols, channels),
                                                  initializer=_weight_initializer(), name="position_embedding")

    def positions(self, rows, cols):
        """The position embedding (1, 1 + rows * cols, C) for a rows x cols grid (ints or tensors)."""
        embedding = tf.cast(tf.convert_to_tensor(self.position_embedding), self.compute_dtype)
        if isinstance(rows, int) and isinstance(cols, int) and (rows, cols) == self.grid_size:
            return embedding
        grid_rows, grid_cols = self.grid_size
        channels = embedding.shape[-1]
        grid = tf.reshape(embedding[0, 1:], (grid_rows, grid_cols, channels))
        # Bicubic weights in float32 at least (bfloat16 / float16 index arithmetic is too coarse).
        weight_dtype = tf.float64 if self.compute_dtype == "float64" else tf.float32
        along_rows = tf.cast(bicubic_matrix(grid_rows, rows, weight_dtype), embedding.dtype)
        along_cols = tf.cast(bicubic_matrix(grid_cols, cols, weight_dtype), embedding.dtype)
        patches = tf.einsum("ai,ijc,bj->abc", along_rows, grid, along_cols)
        patches = tf.reshape(patches, (1, -1, channels))
        return tf.concat([embedding[:, :1], patches], axis=1)

    def call(self, patches):
        static = patches.shape
        dynamic = tf.shape(patches)
        batch = dynamic[0]
        rows = static[1] if static[1] is not None else dynamic[1]
        cols = static[2] if static[2] is not None else dynamic[2]
        channels = static[-1]
        tokens = tf.reshape(patches, tf.stack([batch, rows * cols, channels]))
        cls = tf.cast(tf.convert_to_tensor(self.cls_token), tokens.dtype)
        cls = tf.broadcast_to(cls, tf.stack([batch, 1, channels]))
        return tf.concat([cls, tokens], axis=1) + self.positions(rows, cols)

    def compute_output_shape(self, input_shape):
        rows, cols = input_shape[1], input_shape[2]
        length = None if rows is None or cols is None else 1 + rows * cols
        return (input_shape[0], length, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "grid_size": list(self.grid_size)}


@keras.saving.register_keras_serializable(package="sslzoo")
class TokenPooling(keras.layers.Layer):
    """Tokens (B, 1 + N, C) -> (B, C): the [CLS] token ("cls") or the mean of the N patch tokens ("avg")."""

    def __init__(self, pool="cls", **kwargs):
        super().__init__(**kwargs)
        if pool not in POOLS:
            raise ValueError(f"`pool` must be one of {list(POOLS)}; received pool={pool!r}")
        self.pool = pool

    def call(self, tokens):
        if self.pool == "cls":
            return tokens[:, 0]
        return tf.reduce_mean(tokens[:, 1:], axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "pool": self.pool}


@keras.saving.register_keras_serializable(package="sslzoo")
class DropPath(keras.layers.Layer):
    """Stochastic depth: in training, each sample's residual branch is zeroed with probability
    `rate` and otherwise scaled by 1 / (1 - rate) (DINO / timm `drop_path`); identity at inference."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"`rate` must be in [0, 1); received rate={rate!r}")
        self.rate, self.seed = float(rate), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):
        if not training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        shape = tf.concat([tf.shape(x)[:1], tf.ones([tf.rank(x) - 1], tf.int32)], axis=0)
        mask = tf.floor(keep + keras.random.uniform(shape, dtype=x.dtype, seed=self.seed_generator))
        return x / keep * mask

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


def _positive_int(name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"`{name}` must be a positive int; received {name}={value!r}")


def _rate(name, value):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.0 <= value < 1.0:
        raise ValueError(f"`{name}` must be a number in [0, 1); received {name}={value!r}")


def check_vit_arguments(input_shape, patch_size, width, depth, heads, mlp_ratio, pool, dropout,
                        attention_dropout, drop_path):
    """Returns `input_shape` as (H, W, 3); raises ValueError naming the first bad argument."""
    for name, value in (("patch_size", patch_size), ("width", width), ("depth", depth), ("heads", heads)):
        _positive_int(name, value)
    if width % heads:
        raise ValueError(f"`width` must be divisible by `heads`; received width={width!r}, heads={heads!r}")
    if not isinstance(mlp_ratio, (int, float)) or isinstance(mlp_ratio, bool) or int(width * mlp_ratio) < 1:
        raise ValueError(f"`mlp_ratio` must be a positive number with int(width * mlp_ratio) >= 1; "
                         f"received mlp_ratio={mlp_ratio!r}")
    if pool not in POOLS:
        raise ValueError(f"`pool` must be one of {list(POOLS)}; received pool={pool!r}")
    for name, value in (("dropout", dropout), ("attention_dropout", attention_dropout), ("drop_path", drop_path)):
        _rate(name, value)
    shape = check_image_shape(input_shape)
    rows, cols = shape[:2]
    if not all(isinstance(side, int) and side > 0 for side in (rows, cols)):
        raise ValueError(f"`input_shape` must give the image height and width (the position embedding is "
                         f"learned for one grid); received input_shape={input_shape!r}")
    if rows % patch_size or cols % patch_size:
        raise ValueError(f"`input_shape` sides must be multiples of `patch_size`; received "
                         f"input_shape={input_shape!r}, patch_size={patch_size!r}")
    return shape


def vit(input_shape=(224, 224, 3), patch_size=16, width=192, depth=12, heads=3, mlp_ratio=4.0,
        normalize=True, pool="cls", dropout=0.0, attention_dropout=0.0, drop_path=0.0,
        synchronized_bn=False, name=None):
    """Builds a Vision Transformer encoder: images (B, H, W, 3) in [0, 1] -> h (B, width).

    Args:
      input_shape: (H, W, 3), H and W multiples of `patch_size`: the grid the
        position embedding is learned for. The model takes this size; wrap it in
        `sslzoo.backbones.any_size` for other sizes (positions resized bicubically).
      patch_size: side of the square patches (the strided Conv2D's kernel and stride).
      width: token width (embedding dimension), divisible by `heads`.
      depth: number of Transformer blocks.
      heads: attention heads per block (head size width // heads).
      mlp_ratio: MLP hidden width = int(width * mlp_ratio).
      normalize: first layer subtracts the ImageNet mean and divides by its std.
      pool: "cls" (the [CLS] token, DINO / MoCo v3) or "avg" (mean of the patch
        tokens), each after the final LayerNorm.
      dropout: after the position embedding, the attention projection and each MLP layer.
      attention_dropout: on the attention probabilities.
      drop_path: stochastic depth rate of the last block (linear from 0 over blocks).
      synchronized_bn: accepted so every image backbone takes the same keywords
        (recipes pass it); a ViT has no batch norm.
      name: model name; default "vit".

    Returns:
      A `keras.Model` (B, H, W, 3) -> (B, width).
    """
    del synchronized_bn  # no batch norm in a ViT
    input_shape = check_vit_arguments(input_shape, patch_size, width, depth, heads, mlp_ratio, pool, dropout,
                                      attention_dropout, drop_path)
    grid = (input_shape[0] // patch_size, input_shape[1] // patch_size)
    init = _weight_initializer

    images = keras.Input(shape=input_shape, name="images")
    x = imagenet_normalization()(images) if normalize else images
    patch_fan_in = patch_size * patch_size * input_shape[-1]
    x = keras.layers.Conv2D(width, patch_size, strides=patch_size, padding="valid",
                            kernel_initializer=_torch_default_uniform(patch_fan_in),
                            bias_initializer=_torch_default_uniform(patch_fan_in), name="patch_embed")(x)
    x = ClassTokenAndPosition(grid, name="tokens")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="tokens_dropout")(x)

    hidden = int(width * mlp_ratio)
    for i in range(depth):
        block = f"block{i + 1}"
        rate = drop_path * i / (depth - 1) if depth > 1 else 0.0  # torch.linspace(0, drop_path, depth)
        y = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name=f"{block}_norm1")(x)
        y = keras.layers.MultiHeadAttention(heads, width // heads, dropout=attention_dropout,
                                            kernel_initializer=init(), name=f"{block}_attn")(y, y)
        if dropout:
            y = keras.layers.Dropout(dropout, name=f"{block}_attn_dropout")(y)
        if rate:
            y = DropPath(rate, name=f"{block}_drop_path1")(y)
        x = keras.layers.Add(name=f"{block}_add1")([x, y])
        y = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name=f"{block}_norm2")(x)
        y = keras.layers.Dense(hidden, activation="gelu", kernel_initializer=init(), name=f"{block}_mlp_fc1")(y)
        if dropout:
            y = keras.layers.Dropout(dropout, name=f"{block}_mlp_dropout1")(y)
        y = keras.layers.Dense(width, kernel_initializer=init(), name=f"{block}_mlp_fc2")(y)
        if dropout:
            y = keras.layers.Dropout(dropout, name=f"{block}_mlp_dropout2")(y)
        if rate:
            y = DropPath(rate, name=f"{block}_drop_path2")(y)
        x = keras.layers.Add(name=f"{block}_add2")([x, y])

    h = TokenPooling(pool, name="pool")(x)
    h = keras.layers.LayerNormalization(epsilon=LAYER_NORM_EPSILON, name="norm")(h)
    return keras.Model(images, h, name=name or "vit")


@keywords_of(vit)
def vit_tiny(**kwargs):
    """ViT-Ti/16 (width 192, 12 blocks, 3 heads; 5,524,416 weights without a classifier); keywords as in `vit`."""
    return vit(**{**VIT_TINY, "name": "vit_tiny", **kwargs})


@keywords_of(vit)
def vit_small(**kwargs):
    """ViT-S/16 (width 384, 12 blocks, 6 heads; 21,665,664 weights without a classifier); keywords as in `vit`."""
    return vit(**{**VIT_SMALL, "name": "vit_small", **kwargs})


@keywords_of(vit)
def vit_digits(**kwargs):
    """A CPU-size ViT for digits: 28 x 28 inputs, patch 4, width 64, 4 blocks, 4 heads; keywords as in `vit`."""
    return vit(**{**VIT_DIGITS, "name": "vit_digits", **kwargs})
