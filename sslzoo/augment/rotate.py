"""Random rotation about the image centre, one angle per image, vectorised over the batch;
the rotation, zoom and shift transforms it and `clips.ClipAffine` share."""
import math

import tensorflow as tf


def affine_transforms(angles, scales, shifts, height, width):
    """Projective transforms (B, 8) of a rotation, zoom and shift about the frame centre.

    The forward map sends a frame point p to c + t + s R(a) (p - c), with c the
    centre ((W - 1) / 2, (H - 1) / 2), R(a) a counter-clockwise rotation as
    displayed (rows downwards, like `np.rot90`) and t = `shifts` in pixels (x, y). Each
    row [a0, a1, a2, b0, b1, b2, 0, 0] is its inverse, what
    `ImageProjectiveTransformV3` wants: output pixel (x, y) reads the input at
    (a0 x + a1 y + a2, b0 x + b1 y + b2).

    Args:
      angles: float32 (B,) radians; scales: float32 (B,) > 0 (> 1 zooms in);
      shifts: float32 (B, 2) pixels (x, y); height, width: the frame size.
    """
    cos, sin = tf.cos(angles) / scales, tf.sin(angles) / scales
    centre_x = (tf.cast(width, tf.float32) - 1.0) / 2.0
    centre_y = (tf.cast(height, tf.float32) - 1.0) / 2.0
    # input = c + (1 / s) R(-a) (output - c - t); R(-a) = [[cos, -sin], [sin, cos]] in (x, y-down).
    from_x, from_y = centre_x + shifts[:, 0], centre_y + shifts[:, 1]
    zeros = tf.zeros_like(angles)
    return tf.stack([
        cos, -sin, centre_x - cos * from_x + sin * from_y,
        sin, cos, centre_y - sin * from_x - cos * from_y,
        zeros, zeros,
    ], axis=1)


def rotation_transforms(angles, height, width):
    """Projective transforms (B, 8) that rotate (B, H, W, C) images by `angles` (radians).

    A positive angle turns the picture counter-clockwise as displayed (rows
    downwards), like `np.rot90`; `affine_transforms` with no zoom or shift.
    """
    return affine_transforms(angles, tf.ones_like(angles), tf.zeros(tf.stack([tf.size(angles), 2])), height, width)


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
