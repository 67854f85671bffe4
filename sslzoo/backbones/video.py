"""Video encoders: `keras.Model`s from clips (B, T, H, W, 3) float32 in [0, 1] to h (B, F).

    encoder = sslzoo.backbones.tsm_resnet(50)                        # MMV's TSM-ResNet50, F = 2048
    encoder = sslzoo.backbones.s3d(width=0.25)                        # S3D-G, F = 1024 * width
    encoder = sslzoo.backbones.small_video_cnn(input_shape=(16, 32, 32, 3))   # CPU presets

Every model pools its last feature map over time and space (average). T, H and W
may be None (the default), so an exported encoder takes clips of any size.

- `tsm_resnet`: the Temporal Shift Module (Lin et al. 2019) on the 2-D ResNet of
  `sslzoo.backbones.resnet` (torchvision v1.5 layout). Frames are folded into the
  batch, (B * T, H, W, C), so every convolution and BatchNorm is 2-D; at the start
  of each residual branch a fraction of the channels is shifted one frame along
  time each way (`temporal_shift`). BatchNorm statistics run over B * T frames.
- `s3d`: S3D-G (Xie et al. 2018), the video network of MIL-NCE and MMV: Inception
  blocks whose 3x3x3 convolutions are separable (1x3x3 spatial then 3x1x1
  temporal), with self-gating after each branch.
- `small_video_cnn`: (2+1)-D conv-BN-ReLU layers for CPU presets (AV-digits).
"""
import keras
import tensorflow as tf

from sslzoo.backbones.batch_norm import BatchNorm
from sslzoo.backbones.common import (BN_EPSILON, BN_MOMENTUM, check_rgb_shape, check_width, conv_bn,
                                     imagenet_normalization, keywords_of)
from sslzoo.backbones.resnet import (BOTTLENECK_EXPANSION, RESNET_LAYOUTS, STAGE_CHANNELS, check_resnet_arguments,
                                     resnet_stem)

# ----------------------------------------------------------------------------- input checks


def check_video_shape(input_shape, argument="input_shape"):
    """Returns `input_shape` as a tuple (T, H, W, 3); raises ValueError otherwise."""
    return check_rgb_shape(input_shape, ("frames", "height", "width"),
                           "RGB clips in [0, 1] (any of the first three may be None)", argument)


def _scaled(channels, width):
    return max(1, int(round(channels * width)))


# ----------------------------------------------------------------------------- temporal layers


def temporal_shift(x, num_frames, shift_fraction=0.125):
    """TSM's shift of frame-folded features: x (B * T, H, W, C) -> same shape.

    With n = floor(C * shift_fraction) and frames t = 0..T-1 of each clip:
    channels [0, n) take frame t + 1's values (zeros at t = T - 1),
    channels [n, 2n) take frame t - 1's values (zeros at t = 0), the rest stay.

    Args:
      x: (B * T, H, W, C) tensor, clip-major (the T frames of a clip are adjacent).
      num_frames: T, a Python int or scalar int tensor.
      shift_fraction: fraction of the channels shifted in each direction.
    """
    channels = x.shape[-1]
    n = int(channels * shift_fraction)
    if n == 0:
        return x
    dynamic = tf.shape(x)
    clips = tf.reshape(x, tf.concat([[-1, num_frames], dynamic[1:]], 0))  # (B, T, H, W, C)
    from_next = tf.pad(clips[:, 1:, ..., :n], [[0, 0], [0, 1], [0, 0], [0, 0], [0, 0]])
    from_previous = tf.pad(clips[:, :-1, ..., n:2 * n], [[0, 0], [1, 0], [0, 0], [0, 0], [0, 0]])
    shifted = tf.concat([from_next, from_previous, clips[..., 2 * n:]], axis=-1)
    return tf.reshape(shifted, dynamic)


@keras.saving.register_keras_serializable(package="sslzoo")
class FoldTime(keras.layers.Layer):
    """Clips (B, T, H, W, C) -> frames (B * T, H, W, C), clip-major."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.built = True

    def call(self, video):
        shape = tf.shape(video)
        return tf.reshape(video, tf.concat([[-1], shape[2:]], 0))

    def compute_output_shape(self, input_shape):
        batch, frames = input_shape[0], input_shape[1]
        folded = None if batch is None or frames is None else batch * frames
        return (folded,) + tuple(input_shape[2:])


@keras.saving.register_keras_serializable(package="sslzoo")
class TemporalShift(keras.layers.Layer):
    """`temporal_shift` as a layer: call(x (B * T, H, W, C), video (B, T, ...)) -> (B * T, H, W, C).

    `video` (the model input) only supplies T, so clips of any length work.

    Args:
      shift_fraction: fraction of the channels shifted each way (TSM: 1/8).
    """

    def __init__(self, shift_fraction=0.125, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(shift_fraction, (int, float)) or not 0.0 <= shift_fraction <= 0.5:
            raise ValueError(f"`shift_fraction` must be in [0, 0.5]; received shift_fraction={shift_fraction!r}")
        self.shift_fraction = float(shift_fraction)
        self.built = True

    def call(self, x, video):
        return temporal_shift(x, tf.shape(video)[1], self.shift_fraction)

    def compute_output_shape(self, x_shape, video_shape=None):
        return tuple(x_shape)

    def get_config(self):
        return {**super().get_config(), "shift_fraction": self.shift_fraction}


@keras.saving.register_keras_serializable(package="sslzoo")
class TemporalMeanPool(keras.layers.Layer):
    """call(x (B * T, F), video (B, T, ...)) -> mean over each clip's T frames (B, F)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.built = True

    def call(self, x, video):
        clips = tf.reshape(x, [-1, tf.shape(video)[1], x.shape[-1]])
        return tf.reduce_mean(clips, axis=1)

    def compute_output_shape(self, x_shape, video_shape=None):
        batch = video_shape[0] if video_shape is not None else None
        return (batch, x_shape[-1])


@keras.saving.register_keras_serializable(package="sslzoo")
class SelfGating(keras.layers.Layer):
    """S3D-G feature gating: x * sigmoid(W mean_{t,h,w}(x) + b), x (B, T, H, W, C) -> same shape."""

    def build(self, input_shape):
        self.gate = keras.layers.Dense(input_shape[-1], name="gate")
        self.gate.build((input_shape[0], input_shape[-1]))
        self.built = True

    def call(self, x):
        weights = keras.ops.sigmoid(self.gate(keras.ops.mean(x, axis=(1, 2, 3))))
        return x * weights[:, None, None, None, :]

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


# ----------------------------------------------------------------------------- TSM-ResNet


def _tsm_block(x, video, kind, channels, strides, name, shift_fraction, synchronized_bn, zero_init_residual):
    """Residual block with the shift on the branch input; (B*T, H, W, C) -> (B*T, H/s, W/s, out)."""
    out_channels = channels * (BOTTLENECK_EXPANSION if kind == "bottleneck" else 1)
    bn = dict(synchronized_bn=synchronized_bn)
    shortcut = x
    if strides != 1 or x.shape[-1] != out_channels:
        shortcut = conv_bn(x, out_channels, 1, strides, f"{name}_shortcut", relu=False, **bn)
    y = TemporalShift(shift_fraction, name=f"{name}_shift")(x, video)
    if kind == "basic":
        y = conv_bn(y, channels, 3, strides, f"{name}_1", **bn)
        y = conv_bn(y, channels, 3, 1, f"{name}_2", relu=False, zero_gamma=zero_init_residual, **bn)
    else:
        y = conv_bn(y, channels, 1, 1, f"{name}_1", **bn)
        y = conv_bn(y, channels, 3, strides, f"{name}_2", **bn)
        y = conv_bn(y, out_channels, 1, 1, f"{name}_3", relu=False, zero_gamma=zero_init_residual, **bn)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def tsm_resnet(depth=50, input_shape=(None, None, None, 3), stem="imagenet", width=1.0, shift_fraction=0.125,
               synchronized_bn=False, normalize=True, zero_init_residual=True, name=None):
    """Builds a TSM-ResNet: clips (B, T, H, W, 3) in [0, 1] -> h (B, F), averaged over T, H, W.

    Args:
      depth: 18, 34 (basic blocks) or 50 (bottleneck blocks).
      input_shape: (T, H, W, 3); any of T, H, W may be None.
      stem: "imagenet" (7x7/2 conv, 3x3/2 max-pool) or "cifar" (3x3/1 conv) for
        small frames such as 32x32.
      width: multiplier on every channel count (MMV's TSM-ResNet50x2 is width=2).
      shift_fraction: channels shifted each way at the start of every residual branch.
      synchronized_bn: cross-replica BatchNorm (global-batch statistics).
      normalize: first layer subtracts the ImageNet mean and divides by its std.
      zero_init_residual: start each block's last BN gamma at 0.
      name: model name; default "tsm_resnet{depth}".

    Returns:
      `keras.Model`; F = 512 * width (18/34) or 2048 * width (50).
    """
    check_resnet_arguments(depth, stem, width)
    input_shape = check_video_shape(input_shape)
    kind, blocks_per_stage = RESNET_LAYOUTS[depth]

    video = keras.Input(shape=input_shape, name="video")
    x = FoldTime(name="fold_time")(video)
    if normalize:
        x = imagenet_normalization()(x)
    x = resnet_stem(x, stem, width, synchronized_bn)
    for stage, (channels, blocks) in enumerate(zip(STAGE_CHANNELS, blocks_per_stage)):
        for block in range(blocks):
            strides = 2 if (stage > 0 and block == 0) else 1
            x = _tsm_block(x, video, kind, _scaled(channels, width), strides, f"stage{stage + 1}_block{block + 1}",
                           shift_fraction, synchronized_bn, zero_init_residual)
    x = keras.layers.GlobalAveragePooling2D(name="spatial_pool")(x)
    h = TemporalMeanPool(name="temporal_pool")(x, video)
    return keras.Model(video, h, name=name or f"tsm_resnet{depth}")


@keywords_of(tsm_resnet, "depth")
def tsm_resnet18(**kwargs):
    """TSM-ResNet-18, h (B, 512 * width); keywords as in `tsm_resnet`."""
    return tsm_resnet(18, **kwargs)


@keywords_of(tsm_resnet, "depth")
def tsm_resnet50(**kwargs):
    """TSM-ResNet-50, h (B, 2048 * width); keywords as in `tsm_resnet`."""
    return tsm_resnet(50, **kwargs)


# ----------------------------------------------------------------------------- 3-D pieces


@keras.saving.register_keras_serializable(package="sslzoo")
class VolumeBatchNorm(BatchNorm):
    """`sslzoo.backbones.batch_norm.BatchNorm` for (B, T, H, W, C): frames folded into the batch.

    Statistics over B, T, H, W are the same either way; folding to
    (B * T, H, W, C) lets the fused (one replica) and exact two-pass (synchronized)
    paths of `BatchNorm` run, which cuts a small (2+1)-D CNN's CPU training step
    ~2.5x against Keras' rank-5 composition. Other ranks pass through unchanged.
    """

    def call(self, inputs, training=None, mask=None):
        if len(inputs.shape) != 5 or mask is not None:
            return super().call(inputs, training=training, mask=mask)
        shape = tf.shape(inputs)
        frames = tf.reshape(inputs, tf.concat([[-1], shape[2:]], 0))
        return tf.reshape(super().call(frames, training=training), shape)


def volume_batch_norm(name, synchronized=False):
    """`VolumeBatchNorm` with the backbone defaults (momentum 0.9, epsilon 1e-5)."""
    return VolumeBatchNorm(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, synchronized=synchronized, name=name)



def conv3d_bn(x, filters, kernel_size, strides, name, synchronized_bn=False, relu=True):
    """Conv3D ("same" padding, no bias) -> BN -> optional ReLU; (B, T, H, W, C) -> (B, T', H', W', filters)."""
    x = keras.layers.Conv3D(
        filters, kernel_size, strides=strides, padding="same", use_bias=False,
        kernel_initializer=keras.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal"),
        name=f"{name}_conv",
    )(x)
    x = volume_batch_norm(f"{name}_bn", synchronized=synchronized_bn)(x)
    if relu:
        x = keras.layers.ReLU(name=f"{name}_relu")(x)
    return x


def separable_conv3d_bn(x, filters, kernel_size, strides, name, synchronized_bn=False):
    """(2+1)-D: 1 x k x k spatial conv-BN-ReLU, then k_t x 1 x 1 temporal conv-BN-ReLU.

    Args:
      kernel_size: (k_t, k) or an int k for both; strides: (s_t, s) or an int.
    """
    k_t, k = kernel_size if isinstance(kernel_size, tuple) else (kernel_size, kernel_size)
    s_t, s = strides if isinstance(strides, tuple) else (strides, strides)
    x = conv3d_bn(x, filters, (1, k, k), (1, s, s), f"{name}_spatial", synchronized_bn)
    return conv3d_bn(x, filters, (k_t, 1, 1), (s_t, 1, 1), f"{name}_temporal", synchronized_bn)


# S3D-G Inception blocks: (branch0 1x1, branch1 1x1 -> 3x3x3, branch2 1x1 -> 3x3x3, branch3 pool -> 1x1).
S3D_BLOCKS = {
    "mixed_3b": (64, 96, 128, 16, 32, 32),
    "mixed_3c": (128, 128, 192, 32, 96, 64),
    "mixed_4b": (192, 96, 208, 16, 48, 64),
    "mixed_4c": (160, 112, 224, 24, 64, 64),
    "mixed_4d": (128, 128, 256, 24, 64, 64),
    "mixed_4e": (112, 144, 288, 32, 64, 64),
    "mixed_4f": (256, 160, 320, 32, 128, 128),
    "mixed_5b": (256, 160, 320, 32, 128, 128),
    "mixed_5c": (384, 192, 384, 48, 128, 128),
}


def _inception_block(x, channels, name, width, gating, synchronized_bn):
    """S3D-G Inception block; (B, T, H, W, C) -> (B, T, H, W, sum of the four branch widths)."""
    c0, c1a, c1b, c2a, c2b, c3 = (_scaled(c, width) for c in channels)
    bn = dict(synchronized_bn=synchronized_bn)
    b0 = conv3d_bn(x, c0, 1, 1, f"{name}_b0", **bn)
    b1 = separable_conv3d_bn(conv3d_bn(x, c1a, 1, 1, f"{name}_b1a", **bn), c1b, 3, 1, f"{name}_b1b", **bn)
    b2 = separable_conv3d_bn(conv3d_bn(x, c2a, 1, 1, f"{name}_b2a", **bn), c2b, 3, 1, f"{name}_b2b", **bn)
    b3 = keras.layers.MaxPooling3D(3, strides=1, padding="same", name=f"{name}_b3_pool")(x)
    b3 = conv3d_bn(b3, c3, 1, 1, f"{name}_b3", **bn)
    branches = [b0, b1, b2, b3]
    if gating:
        branches = [SelfGating(name=f"{name}_b{i}_gating")(b) for i, b in enumerate(branches)]
    return keras.layers.Concatenate(axis=-1, name=f"{name}_concat")(branches)


def s3d(input_shape=(None, None, None, 3), width=1.0, gating=True, first_temporal_kernel=3,
        synchronized_bn=False, normalize=False, name="s3d"):
    """Builds S3D-G: clips (B, T, H, W, 3) in [0, 1] -> h (B, 1024 * width), averaged over T, H, W.

    Layout (channels at width 1): separable 7x7 conv / 2 (64), max-pool 1x3x3 / (1,2,2),
    1x1x1 conv (64), separable 3x3x3 conv (192) + gating, max-pool 1x3x3 / (1,2,2),
    mixed_3b-3c, max-pool 3x3x3 / 2, mixed_4b-4f, max-pool 2x2x2 / 2, mixed_5b-5c.
    Time is downsampled 8x, space 32x.

    Args:
      input_shape: (T, H, W, 3); any of T, H, W may be None.
      width: multiplier on every channel count (0.125 runs on a CPU).
      gating: self-gating after every Inception branch (S3D-G); False gives S3D.
      first_temporal_kernel: temporal kernel of the first separable conv (3 in
        MIL-NCE's S3D-G, 7 for a full 7x7x7 factorisation).
      synchronized_bn: cross-replica BatchNorm.
      normalize: first layer subtracts the ImageNet mean and divides by its std
        (MIL-NCE and MMV feed [0, 1] pixels, so False by default).
      name: model name.
    """
    check_width(width)
    if not isinstance(first_temporal_kernel, int) or first_temporal_kernel < 1:
        raise ValueError(f"`first_temporal_kernel` must be a positive int; received "
                         f"first_temporal_kernel={first_temporal_kernel!r}")
    input_shape = check_video_shape(input_shape)
    bn = dict(synchronized_bn=synchronized_bn)
    video = keras.Input(shape=input_shape, name="video")
    x = imagenet_normalization()(video) if normalize else video
    x = separable_conv3d_bn(x, _scaled(64, width), (first_temporal_kernel, 7), 2, "conv1", **bn)
    x = keras.layers.MaxPooling3D((1, 3, 3), strides=(1, 2, 2), padding="same", name="pool1")(x)
    x = conv3d_bn(x, _scaled(64, width), 1, 1, "conv2b", **bn)
    x = separable_conv3d_bn(x, _scaled(192, width), 3, 1, "conv2c", **bn)
    if gating:
        x = SelfGating(name="conv2c_gating")(x)
    x = keras.layers.MaxPooling3D((1, 3, 3), strides=(1, 2, 2), padding="same", name="pool2")(x)
    for block in ("mixed_3b", "mixed_3c"):
        x = _inception_block(x, S3D_BLOCKS[block], block, width, gating, synchronized_bn)
    x = keras.layers.MaxPooling3D(3, strides=2, padding="same", name="pool3")(x)
    for block in ("mixed_4b", "mixed_4c", "mixed_4d", "mixed_4e", "mixed_4f"):
        x = _inception_block(x, S3D_BLOCKS[block], block, width, gating, synchronized_bn)
    x = keras.layers.MaxPooling3D(2, strides=2, padding="same", name="pool4")(x)
    for block in ("mixed_5b", "mixed_5c"):
        x = _inception_block(x, S3D_BLOCKS[block], block, width, gating, synchronized_bn)
    h = keras.layers.GlobalAveragePooling3D(name="avg_pool")(x)
    return keras.Model(video, h, name=name)


# ----------------------------------------------------------------------------- small (2+1)-D CNN


def _per_layer_strides(name, strides, default, num_layers):
    """`strides` (or `default` when None) as a tuple of `num_layers` positive ints."""
    strides = default if strides is None else strides
    checked = tuple(strides) if isinstance(strides, (list, tuple)) else ()
    if len(checked) != num_layers or not all(isinstance(s, int) and s > 0 for s in checked):
        raise ValueError(f"`{name}` must hold one positive int per entry of `widths` ({num_layers}); "
                         f"received {name}={strides!r}")
    return checked


def small_video_cnn(input_shape=(None, None, None, 3), widths=(32, 64, 128), temporal_strides=None,
                    spatial_strides=None, synchronized_bn=False, normalize=False, name="small_video_cnn"):
    """Builds clips (B, T, H, W, 3) in [0, 1] -> h (B, widths[-1]) for CPU presets.

    One (2+1)-D layer per entry of `widths` (1x3x3 conv-BN-ReLU, then 3x1x1
    conv-BN-ReLU); layer i divides H and W by `spatial_strides[i]` and T by
    `temporal_strides[i]`. Then global average pooling.

    Args:
      input_shape: (T, H, W, 3); any of T, H, W may be None (AV-digits: (16, 32, 32, 3)).
      widths: channel count of each layer, at least one positive int.
      temporal_strides: one positive int per layer; None strides 2 in every
        layer (16 frames -> 2 with three layers). Striding the first temporal conv
        makes a step ~3x cheaper on a CPU than (1, 2, 2), and each temporal conv
        still sees 3 frames.
      spatial_strides: one positive int per layer; None keeps the frame size in the
        first layer and halves it in each later one. A first stride of 2 makes the
        step ~4x cheaper (the full-size layers are most of its cost).
      synchronized_bn: cross-replica BatchNorm.
      normalize: first layer subtracts the ImageNet mean and divides by its std.
      name: model name.
    """
    widths = tuple(widths) if isinstance(widths, (list, tuple)) else ()
    if not widths or not all(isinstance(w, int) and w > 0 for w in widths):
        raise ValueError(f"`widths` must be a non-empty sequence of positive ints; received widths={widths!r}")
    strides_t = _per_layer_strides("temporal_strides", temporal_strides, (2,) * len(widths), len(widths))
    strides_s = _per_layer_strides("spatial_strides", spatial_strides, (1,) + (2,) * (len(widths) - 1),
                                   len(widths))
    input_shape = check_video_shape(input_shape)
    video = keras.Input(shape=input_shape, name="video")
    x = imagenet_normalization()(video) if normalize else video
    for i, (filters, stride_t, stride_s) in enumerate(zip(widths, strides_t, strides_s)):
        x = separable_conv3d_bn(x, filters, 3, (stride_t, stride_s), f"conv{i + 1}",
                                synchronized_bn=synchronized_bn)
    h = keras.layers.GlobalAveragePooling3D(name="avg_pool")(x)
    return keras.Model(video, h, name=name)


__all__ = ["FoldTime", "SelfGating", "TemporalMeanPool", "TemporalShift", "VolumeBatchNorm", "check_video_shape", "s3d",
           "small_video_cnn", "temporal_shift", "tsm_resnet", "tsm_resnet18", "tsm_resnet50"]
