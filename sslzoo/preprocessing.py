"""Evaluation-time image preprocessing, shared by training, evaluation and export.

Every image encoder in sslzoo consumes float32 images in [0, 1] of shape
(B, S, S, 3); per-channel normalisation, if any, is a layer inside the backbone.
Raw images of any size and dtype are brought to that form by `eval_images`, the
one function the data pipeline, the evaluation protocols and the exported
serving signature all call, so the numbers agree everywhere.
"""
import tensorflow as tf


def to_unit_float(images):
    """uint8 [0, 255] -> float32 [0, 1]; floating input is cast to float32 as is.

    Args:
      images: (..., H, W, C) tensor, uint8 or floating.
    Returns:
      float32 tensor of the same shape.
    """
    images = tf.convert_to_tensor(images)
    if images.dtype == tf.uint8:
        return tf.cast(images, tf.float32) / 255.0
    if not images.dtype.is_floating:
        raise ValueError(f"`images` must be uint8 or floating, got dtype {images.dtype.name}")
    return tf.cast(images, tf.float32)


def to_rgb(images):
    """(B, H, W, 1) -> (B, H, W, 3) by repeating the channel; 3 channels pass through."""
    channels = images.shape[-1]
    if channels == 1:
        return tf.repeat(images, 3, axis=-1)
    if channels != 3:
        raise ValueError(f"`images` must have 1 or 3 channels, got shape {images.shape}")
    return images


def eval_images(images, image_size):
    """Raw images -> the encoder's input: resize (bilinear, antialiased) and scale.

    Args:
      images: (B, H, W, C) uint8 or float, C in {1, 3}, any H, W.
      image_size: int S, the encoder's input side.
    Returns:
      float32 (B, S, S, 3) in [0, 1].
    """
    images = to_rgb(to_unit_float(images))
    if images.shape.rank != 4:
        raise ValueError(f"`images` must be rank 4 (B, H, W, C), got shape {images.shape}")
    size = (int(image_size), int(image_size))
    if tuple(images.shape[1:3]) != size:
        images = tf.image.resize(images, size, method="bilinear", antialias=True)
    return tf.clip_by_value(images, 0.0, 1.0)
