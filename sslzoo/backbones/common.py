"""Pieces shared by the image backbones: input checks, fixed normalisation, conv-BN-ReLU."""
import inspect

import keras

from sslzoo import keras_internals

from sslzoo.backbones.batch_norm import BatchNorm

# ImageNet per-channel statistics of images scaled to [0, 1] (RGB order).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# torchvision / SimCLR BatchNorm settings (torch momentum 0.1 == Keras momentum 0.9).
BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5


def keywords_of(builder, *fixed):
    """Decorator for a named variant `f(**kwargs)` of `builder` (resnet18 of resnet): its signature
    becomes `builder`'s without the parameters in `fixed`, which the variant sets, so the
    keywords a recipe passes can be checked before anything is built."""
    def decorate(variant):
        signature = inspect.signature(builder)
        variant.__signature__ = signature.replace(
            parameters=[p for p in signature.parameters.values() if p.name not in fixed])
        return variant
    return decorate


def check_width(width):
    """Raises ValueError naming `width` unless it is a positive number (a channel multiplier)."""
    if not isinstance(width, (int, float)) or isinstance(width, bool) or width <= 0:
        raise ValueError(f"`width` must be a positive number; received width={width!r}")


def check_rgb_shape(input_shape, axes, what, argument="input_shape"):
    """Returns `input_shape` as a tuple of len(axes) + 1 sizes ending in 3; raises ValueError naming
    `argument` and the layout ("(height, width, 3) for RGB images ...") otherwise."""
    shape = tuple(input_shape) if isinstance(input_shape, (list, tuple)) else None
    if shape is None or len(shape) != len(axes) + 1 or shape[-1] != 3:
        raise ValueError(f"`{argument}` must be ({', '.join(axes)}, 3) for {what}; "
                         f"received {argument}={input_shape!r}")
    return shape


def check_image_shape(input_shape, argument="input_shape"):
    """Returns `input_shape` as a tuple (H, W, 3); raises ValueError otherwise."""
    return check_rgb_shape(input_shape, ("height", "width"), "RGB images in [0, 1]", argument)


def any_size(encoder):
    """`encoder`'s layers (the same weights) rebuilt to take (B, H, W, C) images of any H, W.

    Multi-crop objectives (SwAV, DINO) train on crops smaller than the
    encoder's fixed input; evaluation and export keep the fixed-size encoder.
    An encoder whose input already has free sides, or one that is not a
    functional model, is returned as is.

    Args:
      encoder: `keras.Model`, (B, S, S, C) -> (B, F).
    Returns:
      `keras.Model` (B, None, None, C) -> (B, F) sharing every variable with `encoder`.
    """
    shape = encoder.input_shape
    if not isinstance(shape, tuple) or len(shape) != 4 or shape[1:3] == (None, None):
        return encoder
    if not keras_internals.is_functional(encoder):  # a subclassed model has no graph to rebuild
        return encoder
    images = keras.Input(shape=(None, None, shape[-1]), name="images")
    return keras.models.clone_model(encoder, input_tensors=images, clone_function=lambda layer: layer)


def imagenet_normalization(name="imagenet_normalization"):
    """A fixed (non-adapted) layer mapping x -> (x - mean) / std per channel, (B, H, W, 3)."""
    return keras.layers.Normalization(
        axis=-1,
        mean=list(IMAGENET_MEAN),
        variance=[s * s for s in IMAGENET_STD],
        name=name,
    )


def batch_norm(name, synchronized=False, zero_gamma=False, center=True, scale=True):
    """`BatchNorm` with the backbone defaults; `zero_gamma` starts gamma at 0."""
    return BatchNorm(
        momentum=BN_MOMENTUM,
        epsilon=BN_EPSILON,
        center=center,
        scale=scale,
        gamma_initializer="zeros" if zero_gamma else "ones",
        synchronized=synchronized,
        name=name,
    )


def conv_bn(x, filters, kernel_size, strides, name, synchronized_bn=False,
            zero_gamma=False, relu=True):
    """Conv (no bias, he-normal) -> BN -> optional ReLU, torchvision padding.

    Padding is `kernel_size // 2` on every side (explicit zero padding when
    strided, "same" otherwise), so the output size is
    floor((H + 2p - k) / s) + 1 exactly as in torchvision.

    Args:
      x: (B, H, W, C) symbolic tensor.
    Returns:
      (B, H', W', filters) tensor.
    """
    if strides > 1 and kernel_size > 1:
        x = keras.layers.ZeroPadding2D(kernel_size // 2, name=f"{name}_pad")(x)
        padding = "valid"
    else:
        padding = "same"
    x = keras.layers.Conv2D(
        filters, kernel_size, strides=strides, padding=padding, use_bias=False,
        kernel_initializer=keras.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal"),
        name=f"{name}_conv",
    )(x)
    x = batch_norm(f"{name}_bn", synchronized=synchronized_bn, zero_gamma=zero_gamma)(x)
    if relu:
        x = keras.layers.ReLU(name=f"{name}_relu")(x)
    return x
