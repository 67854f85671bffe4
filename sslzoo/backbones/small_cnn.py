"""A small conv-BN-ReLU encoder for CPU presets and tests."""
import keras

from sslzoo.backbones.common import check_image_shape, conv_bn, imagenet_normalization


def small_cnn(input_shape=(32, 32, 3), widths=(32, 64, 128), synchronized_bn=False,
              normalize=False, name="small_cnn"):
    """Builds images (B, H, W, 3) in [0, 1] -> h (B, widths[-1]).

    One 3x3 conv -> BN -> ReLU per entry of `widths`; the first keeps the
    resolution, each later one halves it (stride 2); then global average pooling.

    Args:
      input_shape: (H, W, 3); H and W may be None.
      widths: channel count of each conv layer, at least one positive int.
      synchronized_bn: use cross-replica BatchNormalization.
      normalize: first layer subtracts the ImageNet mean and divides by its std.
      name: model name.
    """
    widths = tuple(widths) if isinstance(widths, (list, tuple)) else ()
    if not widths or not all(isinstance(w, int) and w > 0 for w in widths):
        raise ValueError(f"`widths` must be a non-empty sequence of positive ints; received widths={widths!r}")
    input_shape = check_image_shape(input_shape)
    images = keras.Input(shape=input_shape, name="images")
    x = imagenet_normalization()(images) if normalize else images
    for i, filters in enumerate(widths):
        x = conv_bn(x, filters, 3, 1 if i == 0 else 2, f"conv{i + 1}", synchronized_bn=synchronized_bn)
    h = keras.layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return keras.Model(images, h, name=name)
