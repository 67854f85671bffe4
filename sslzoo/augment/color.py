"""Colour augmentations on batches with per-image parameters.

Every function takes float32 images (B, H, W, 3) in [0, 1] and per-image
parameters of shape (B,), so one call transforms a whole batch with a different
draw for each image; no per-image Python loop. The definitions follow
torchvision / the SimCLR paper: brightness multiplies, contrast blends with the
image's mean grey level, saturation blends with the image's own greyscale, hue
rotates the HSV hue channel; the result is clipped to [0, 1] after each step.
"""
import tensorflow as tf

from sslzoo.augment import select

# ITU-R 601-2 luma weights, as in torchvision and tf.image.rgb_to_grayscale.
LUMA_WEIGHTS = (0.2989, 0.587, 0.114)

JITTER_ORDER = ("brightness", "contrast", "saturation", "hue")


def _per_image(values):
    """(B,) -> (B, 1, 1, 1) float32 for broadcasting against images."""
    return tf.reshape(tf.cast(values, tf.float32), (-1, 1, 1, 1))


def grayscale(images):
    """Luma of RGB images: (B, H, W, 3) -> (B, H, W, 1)."""
    return tf.tensordot(images, tf.constant(LUMA_WEIGHTS, tf.float32), axes=1)[..., None]


def adjust_brightness(images, factors):
    """`images * factor` per image. images (B, H, W, 3), factors (B,) >= 0."""
    return tf.clip_by_value(images * _per_image(factors), 0.0, 1.0)


def adjust_contrast(images, factors):
    """Blend each image with its mean grey level: `f * x + (1 - f) * mean(gray(x))`."""
    factors = _per_image(factors)
    mean = tf.reduce_mean(grayscale(images), axis=(1, 2, 3), keepdims=True)
    return tf.clip_by_value(factors * images + (1.0 - factors) * mean, 0.0, 1.0)


def adjust_saturation(images, factors):
    """Blend each image with its own greyscale: `f * x + (1 - f) * gray(x)`."""
    factors = _per_image(factors)
    return tf.clip_by_value(factors * images + (1.0 - factors) * grayscale(images), 0.0, 1.0)


def adjust_hue(images, deltas):
    """Rotate the HSV hue of each image by `delta` (B,), in turns (delta in [-0.5, 0.5])."""
    hsv = tf.image.rgb_to_hsv(images)
    hue = tf.math.floormod(hsv[..., :1] + _per_image(deltas), 1.0)
    return tf.clip_by_value(tf.image.hsv_to_rgb(tf.concat([hue, hsv[..., 1:]], axis=-1)), 0.0, 1.0)


def jitter_ranges(strength):
    """SimCLR's colour-jitter magnitudes for strength s: 0.8s, 0.8s, 0.8s, 0.2s."""
    strength = float(strength)
    if strength < 0:
        raise ValueError(f"`strength` must be >= 0, got {strength}")
    return {"brightness": 0.8 * strength, "contrast": 0.8 * strength,
            "saturation": 0.8 * strength, "hue": min(0.2 * strength, 0.5)}


def sample_jitter_factors(seed, batch_size, strength, prob):
    """Draws per-image jitter parameters; images not jittered get neutral ones.

    Factors are uniform in [max(0, 1 - m), 1 + m] (m = 0.8 * strength) for
    brightness, contrast and saturation, the hue delta uniform in [-h, h]
    (h = 0.2 * strength). With probability 1 - `prob` an image keeps the neutral
    values (1, 1, 1, 0), which leave it unchanged.

    Args:
      seed: int tensor (2,), stateless seed.
      batch_size: int or scalar tensor B.
      strength: float s >= 0.
      prob: float or (B,) tensor, the chance that each image is jittered.
    Returns:
      dict name -> float32 (B,) for the names in `JITTER_ORDER`, plus
      "applied": bool (B,).
    """
    ranges = jitter_ranges(strength)
    seeds = tf.random.experimental.stateless_split(seed, num=5)
    applied = select.draw(seeds[0], batch_size, prob)
    factors = {"applied": applied}
    for i, name in enumerate(JITTER_ORDER[:3]):
        m = ranges[name]
        drawn = tf.random.stateless_uniform([batch_size], seeds[i + 1], max(0.0, 1.0 - m), 1.0 + m)
        factors[name] = tf.where(applied, drawn, 1.0)
    hue = tf.random.stateless_uniform([batch_size], seeds[4], -ranges["hue"], ranges["hue"])
    factors["hue"] = tf.where(applied, hue, 0.0)
    return factors


_ADJUST = {"brightness": adjust_brightness, "contrast": adjust_contrast,
           "saturation": adjust_saturation, "hue": adjust_hue}


def color_jitter(images, factors, order=None):
    """Applies brightness, contrast, saturation and hue with per-image factors.

    Args:
      images: float32 (B, H, W, 3) in [0, 1].
      factors: dict from `sample_jitter_factors` (each (B,)).
      order: None for the fixed order of `JITTER_ORDER`, or an int tensor (4,),
        a permutation of 0..3 indexing `JITTER_ORDER` (one order for the batch).
    Returns:
      float32 (B, H, W, 3) in [0, 1].
    """
    if order is None:
        for name in JITTER_ORDER:
            images = _ADJUST[name](images, factors[name])
        return images
    for step in range(len(JITTER_ORDER)):
        branches = [lambda name=name, x=images: _ADJUST[name](x, factors[name]) for name in JITTER_ORDER]
        images = tf.switch_case(order[step], branches)
    return images


def apply_grayscale(images, applied):
    """Greyscale (repeated to 3 channels) where `applied` (B,) is True. images (B, H, W, 3)."""
    gray = tf.repeat(grayscale(images), 3, axis=-1)
    return tf.where(applied[:, None, None, None], gray, images)


def random_grayscale(images, seed, prob):
    """Replaces each image by its greyscale (repeated to 3 channels) with probability `prob`.

    Args:
      images: float32 (B, H, W, 3).
      seed: int tensor (2,).
      prob: float or (B,) tensor.
    Returns:
      (images (B, H, W, 3), applied bool (B,)).
    """
    applied = select.draw(seed, tf.shape(images)[0], prob)
    return apply_grayscale(images, applied), applied


def solarize(images, threshold=0.5):
    """Inverts pixels >= `threshold`: x -> 1 - x. images float32 in [0, 1], any shape."""
    return tf.where(images >= threshold, 1.0 - images, images)


def random_solarize(images, seed, prob, threshold=0.5):
    """Solarizes each image with probability `prob` (only those images are computed).

    Args:
      images: float32 (B, H, W, 3) in [0, 1].
      seed: int tensor (2,).
      prob: float or (B,) tensor.
      threshold: float in [0, 1].
    Returns:
      (images (B, H, W, 3), applied bool (B,)).
    """
    applied = select.draw(seed, tf.shape(images)[0], prob)
    return select.apply_to_chosen(images, applied, lambda x: solarize(x, threshold)), applied
