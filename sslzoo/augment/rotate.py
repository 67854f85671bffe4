"""Random rotation about the image centre, one angle per image, vectorised over the batch."""
import math

import tensorflow as tf


def rotation_transforms(angles, height, width):
    """Projective transforms (B, 8) that rotate (B, H, W, C) images by `angles` (radians).

    A positive angle turns the picture counter-clockwise as displayed (rows
    downwards), like `np.rot90`. Each row [a0, a1, a2, b0, b1, b2, 0, 0] maps an
    output pixel (x, y) to the input point (a0 x + a1 y + a2, b0 x + b1 y + b2):
    the inverse rotation about the centre ((W - 1) / 2, (H - 1) / 2).
    """
    cos, sin = tf.cos(angles), tf.sin(angles)
    centre_x = (tf.cast(width, tf.float32) - 1.0) / 2.0
    centre_y = (tf.cast(height, tf.float32) - 1.0) / 2.0
    zeros = tf.zeros_like(angles)
    return tf.stack([
        cos, -sin, centre_x - cos * centre_x + sin * centre_y,
        sin, cos, centre_y - sin * centre_x - cos * centre_y,
        zeros, zeros,
    ], axis=1)


def rotate(images, angles):
    """Rotates each image by its angle (radians), bilinear, zeros outside the source.

    Args:
      images: float (B, H, W, C).
      angles: float32 (B,).
    Returns:
      float (B, H, W, C), same dtype.
    """
    shape = tf.shape(images)
    transforms = rotation_transforms(tf.cast(angles, tf.float32), shape[1], shape[2])
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=shape[1:3], fill_value=tf.constant(0.0, tf.float32),
        interpolation="BILINEAR", fill_mode="CONSTANT")


def random_rotation(images, seed, max_degrees):
    """Rotates each image by an angle drawn uniformly from [-max_degrees, max_degrees].

    Args:
      images: float (B, H, W, C).
      seed: int tensor (2,), stateless seed.
      max_degrees: float >= 0; 0 returns `images` unchanged.
    """
    if not max_degrees:
        return images
    limit = math.radians(float(max_degrees))
    angles = tf.random.stateless_uniform(tf.shape(images)[:1], seed, -limit, limit)
    return rotate(images, angles)
