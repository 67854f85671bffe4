"""ResNet-18/34/50 encoders (He et al. 2016, torchvision "v1.5" layout) for SSL.

Each function returns a functional `keras.Model` mapping float32 images in [0, 1],
shape (B, H, W, 3), to the global-average-pooled representation h, shape (B, F):
F = 512 * width for depths 18/34 (basic blocks) and 2048 * width for depth 50
(bottleneck blocks, stride on the 3x3 convolution).
"""
import keras

from sslzoo.backbones.common import check_image_shape, check_width, conv_bn, imagenet_normalization, keywords_of

# depth -> (block kind, blocks per stage)
RESNET_LAYOUTS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
}
STEMS = ("imagenet", "cifar")
STAGE_CHANNELS = (64, 128, 256, 512)
BOTTLENECK_EXPANSION = 4


def _scaled(channels, width):
    return max(1, int(round(channels * width)))


def check_resnet_arguments(depth, stem, width):
    """Raises ValueError naming `depth`, `stem` or `width` when it is not a ResNet layout, stem or
    positive width multiplier (shared by the image, TSM video and audio ResNets)."""
    if depth not in RESNET_LAYOUTS:
        raise ValueError(f"`depth` must be one of {sorted(RESNET_LAYOUTS)}; received depth={depth!r}")
    if stem not in STEMS:
        raise ValueError(f"`stem` must be one of {list(STEMS)}; received stem={stem!r}")
    check_width(width)


def resnet_stem(x, stem, width, synchronized_bn):
    """The ResNet stem on (B, H, W, C): "imagenet" 7x7/2 conv + 3x3/2 max-pool, "cifar" one 3x3 conv.

    Shared by the image, TSM video and audio ResNets (same layer names, so weights line up).
    """
    channels = _scaled(64, width)
    if stem == "imagenet":
        x = conv_bn(x, channels, 7, 2, "stem", synchronized_bn=synchronized_bn)
        x = keras.layers.ZeroPadding2D(1, name="stem_pool_pad")(x)
        return keras.layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)
    return conv_bn(x, channels, 3, 1, "stem", synchronized_bn=synchronized_bn)


def _residual_block(x, kind, channels, strides, name, synchronized_bn, zero_init_residual):
    """One basic or bottleneck block; (B, H, W, C) -> (B, H/s, W/s, channels * expansion)."""
    out_channels = channels * (BOTTLENECK_EXPANSION if kind == "bottleneck" else 1)
    bn = dict(synchronized_bn=synchronized_bn)
    shortcut = x
    if strides != 1 or x.shape[-1] != out_channels:
        shortcut = conv_bn(x, out_channels, 1, strides, f"{name}_shortcut", relu=False, **bn)
    if kind == "basic":
        y = conv_bn(x, channels, 3, strides, f"{name}_1", **bn)
        y = conv_bn(y, channels, 3, 1, f"{name}_2", relu=False,
                    zero_gamma=zero_init_residual, **bn)
    else:
        y = conv_bn(x, channels, 1, 1, f"{name}_1", **bn)
        y = conv_bn(y, channels, 3, strides, f"{name}_2", **bn)
        y = conv_bn(y, out_channels, 1, 1, f"{name}_3", relu=False,
                    zero_gamma=zero_init_residual, **bn)
    y = keras.layers.Add(name=f"{name}_add")([shortcut, y])
    return keras.layers.ReLU(name=f"{name}_out")(y)


def resnet(depth, input_shape=(224, 224, 3), stem="imagenet", width=1.0,
           synchronized_bn=False, normalize=True, zero_init_residual=True, name=None):
    """Builds a ResNet encoder: images (B, H, W, 3) in [0, 1] -> h (B, F).

    Args:
      depth: 18, 34 (basic blocks) or 50 (bottleneck blocks).
      input_shape: (H, W, 3); H and W may be None.
      stem: "imagenet" (7x7/2 conv, BN, ReLU, 3x3/2 max-pool) or "cifar"
        (3x3/1 conv, BN, ReLU, no pool) for small images such as 32x32.
      width: multiplier on every channel count (0.25 gives stages 16/32/64/128).
      synchronized_bn: use cross-replica BatchNormalization (global-batch statistics).
      normalize: first layer subtracts the ImageNet mean and divides by its std.
      zero_init_residual: start the last BN gamma of each block at 0 (each block
        begins as the identity), as SimCLR (tf2/resnet.py: `init_zero=True`),
        MoCo v3 (main_moco.py: `zero_init_residual=True`) and Barlow Twins
        (main.py: `resnet50(zero_init_residual=True)`) do. MoCo v1/v2
        (torchvision's default) and SwAV (src/resnet50.py's default) start it at
        1: pass False to match them.
      name: model name; default "resnet{depth}".

    Returns:
      A `keras.Model`; its output has F = 512 * width (18/34) or 2048 * width (50).
    """
    check_resnet_arguments(depth, stem, width)
    input_shape = check_image_shape(input_shape)
    kind, blocks_per_stage = RESNET_LAYOUTS[depth]

    images = keras.Input(shape=input_shape, name="images")
    x = imagenet_normalization()(images) if normalize else images
    x = resnet_stem(x, stem, width, synchronized_bn)

    for stage, (channels, blocks) in enumerate(zip(STAGE_CHANNELS, blocks_per_stage)):
        for block in range(blocks):
            strides = 2 if (stage > 0 and block == 0) else 1
            x = _residual_block(
                x, kind, _scaled(channels, width), strides, f"stage{stage + 1}_block{block + 1}",
                synchronized_bn, zero_init_residual,
            )
    h = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(images, h, name=name or f"resnet{depth}")


@keywords_of(resnet, "depth")
def resnet18(**kwargs):
    """ResNet-18 encoder, h (B, 512 * width); keywords as in `resnet`."""
    return resnet(18, **kwargs)


@keywords_of(resnet, "depth")
def resnet34(**kwargs):
    """ResNet-34 encoder, h (B, 512 * width); keywords as in `resnet`."""
    return resnet(34, **kwargs)


@keywords_of(resnet, "depth")
def resnet50(**kwargs):
    """ResNet-50 encoder, h (B, 2048 * width); keywords as in `resnet`."""
    return resnet(50, **kwargs)
