"""What SimCLRAugment and MultiCrop share: seeds, input checks, the colour pipeline.

After cropping, every view goes through the same steps, each drawn per image:
colour jitter (prob `jitter_prob`), greyscale (`grayscale_prob`), Gaussian blur
(`blur_prob`), solarize (`solarize_prob`). Blur and solarize probabilities may
differ per view (asymmetric BYOL / Barlow Twins / DINO recipes).
"""
import numbers

import tensorflow as tf

from sslzoo import preprocessing
from sslzoo.augment import blur as blur_lib
from sslzoo.augment import color
from sslzoo.augment import crop
from sslzoo.augment import rotate
from sslzoo.augment import select


def check_prob(value, name):
    """A probability as float, ValueError outside [0, 1]."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a float in [0, 1], got {value!r}") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"`{name}` must be in [0, 1], got {value}")
    return value


def per_view_probs(value, name, num_views):
    """A float (same for every view) or a sequence of `num_views` floats -> list of floats."""
    if isinstance(value, (list, tuple)):
        if len(value) != num_views:
            raise ValueError(f"`{name}` must be a float or {num_views} floats (one per view), got {value!r}")
        return [check_prob(v, name) for v in value]
    return [check_prob(value, name)] * num_views


def rows_per_view(probs, batch_size):
    """[p_1, ..., p_V] -> float32 (V * B,), p_v repeated for the B rows of view v."""
    return tf.repeat(tf.constant(probs, tf.float32), batch_size)


class SeedStream:
    """Hands out a fresh stateless seed (2,) per call, from a `tf.random.Generator`.

    With an int `seed`, two streams made with the same seed give the same
    sequence; with None the generator starts from a non-deterministic state.
    The generator's state is a variable, so calls inside `dataset.map` advance it.
    """

    def __init__(self, seed=None):
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise ValueError(f"`seed` must be an int or None, got {seed!r}")
        with tf.init_scope():
            if seed is None:
                self.generator = tf.random.Generator.from_non_deterministic_state()
            else:
                self.generator = tf.random.Generator.from_seed(int(seed))

    def next(self, seed=None):
        """The seed for one call: `seed` (2 ints) if given, else the generator's next."""
        if seed is not None:
            seed = tf.convert_to_tensor(seed)
            if not seed.shape.is_compatible_with([2]) or not seed.dtype.is_integer:
                raise ValueError(f"`seed` must be 2 integers, got {seed.dtype.name} shape {seed.shape}")
            return tf.ensure_shape(tf.cast(seed, tf.int64), [2])
        return self.generator.make_seeds(1)[:, 0]


# SipHash key of `batch_seed` (any fixed pair: the run's seed enters the result directly).
_HASH_KEY = [0x5eed, 0xba7c4]
_HASH_BUCKETS = 2**63 - 1  # to_hash_bucket_strong's largest bucket count: hashes keep 63 bits


def batch_seed(seed, keys):
    """A stateless seed (2,) int64 for one batch: a function of `seed` and the batch's keys only.

    Augmentation drawn from it is the same whenever the same elements arrive in
    the same order under the same seed, whatever else ran before, in which order
    parallel map calls were scheduled, or whether the run was resumed from a
    checkpointed iterator; a reshuffled epoch (other elements, other order, or
    another pass seed) gets fresh draws. A `tf.random.Generator` (`SeedStream`)
    hands seeds out in call order, which parallel `map` calls make
    nondeterministic and a resumed run restarts.

    Args:
      seed: int or int64 scalar tensor: the run's (or the pass's) seed.
      keys: int (B,), the batch's element indices in the dataset.
    Returns:
      int64 (2,): [SipHash of the keys, `seed`].
    """
    if isinstance(seed, bool) or not (isinstance(seed, numbers.Integral) or tf.is_tensor(seed)):
        raise ValueError(f"`seed` must be an int or an integer tensor, got {seed!r}")
    joined = tf.strings.reduce_join(tf.strings.as_string(tf.cast(keys, tf.int64)), separator=",")
    hashed = tf.strings.to_hash_bucket_strong(joined, _HASH_BUCKETS, key=_HASH_KEY)
    return tf.stack([hashed, tf.cast(seed, tf.int64)])


def check_images(images):
    """Batch (B, H, W, C), C in {1, 3}, uint8 or float -> the tensor, or ValueError."""
    images = tf.convert_to_tensor(images)
    if images.shape.rank != 4:
        raise ValueError(f"`images` must be a batch (B, H, W, C), got shape {images.shape}")
    if images.shape[-1] not in (1, 3):
        raise ValueError(f"`images` must have 1 or 3 channels, got shape {images.shape}")
    if images.dtype != tf.uint8 and not images.dtype.is_floating:
        raise ValueError(f"`images` must be uint8 or floating, got dtype {images.dtype.name}")
    if images.dtype.is_floating and images.dtype != tf.float32:
        images = tf.cast(images, tf.float32)
    return images


def crops_to_unit_rgb(crops, source_dtype):
    """Crops from `crop_and_resize` (values in the source's scale) -> float32 RGB in [0, 1]."""
    if source_dtype == tf.uint8:
        crops = crops * (1.0 / 255.0)
    return preprocessing.to_rgb(tf.clip_by_value(crops, 0.0, 1.0))


def _jitter_and_gray(crops, factors, order, gray):
    """The elementwise part of the recipe, one fused loop under XLA (~5x faster on CPU)."""
    return color.apply_grayscale(color.color_jitter(crops, factors, order), gray)


class ViewAugment:
    """Base of the view augmenters: the recipe after cropping, and its config."""

    def __init__(self, *, aspect_ratio=(3 / 4, 4 / 3), flip_prob=0.5, jitter_strength=1.0,
                 jitter_prob=0.8, grayscale_prob=0.2, blur_sigma=(0.1, 2.0), solarize_threshold=0.5,
                 random_order=True, jit_compile=True, rotation_degrees=0.0, seed=None):
        self.aspect_ratio = crop.check_range(aspect_ratio, "aspect_ratio", 0.0)
        if not 0.0 <= float(rotation_degrees) <= 180.0:
            raise ValueError(f"`rotation_degrees` must be in [0, 180], got {rotation_degrees!r}")
        self.rotation_degrees = float(rotation_degrees)
        self.flip_prob = check_prob(flip_prob, "flip_prob")
        color.jitter_ranges(jitter_strength)  # validates
        self.jitter_strength = float(jitter_strength)
        self.jitter_prob = check_prob(jitter_prob, "jitter_prob")
        self.grayscale_prob = check_prob(grayscale_prob, "grayscale_prob")
        self.blur_sigma = crop.check_range(blur_sigma, "blur_sigma", 0.0)
        self.solarize_threshold = check_prob(solarize_threshold, "solarize_threshold")
        self.random_order = bool(random_order)
        self.jit_compile = bool(jit_compile)
        self._jitter_and_gray = tf.function(_jitter_and_gray, jit_compile=self.jit_compile)
        self.seed = seed
        self.seeds = SeedStream(seed)

    def augment_crops(self, crops, seed, blur_prob, solarize_prob, blur_radius):
        """Rotation (if `rotation_degrees`), colour jitter, greyscale, blur and solarize, drawn per crop.

        All random draws happen here, outside the (XLA-compiled) jitter and
        greyscale block, so the views do not depend on `jit_compile`.

        Args:
          crops: float32 (N, S, S, 3) in [0, 1].
          seed: int tensor (2,).
          blur_prob, solarize_prob: float32 (N,) per-crop probabilities.
          blur_radius: int, Gaussian kernel radius for side S.
        Returns:
          float32 (N, S, S, 3) in [0, 1].
        """
        crops = rotate.random_rotation(crops, tf.random.experimental.stateless_fold_in(seed, 5),
                                       self.rotation_degrees)
        seeds = tf.random.experimental.stateless_split(seed, num=5)
        rows = tf.shape(crops)[0]
        factors = color.sample_jitter_factors(seeds[0], rows, self.jitter_strength, self.jitter_prob)
        order = None
        if self.random_order:
            order = tf.argsort(tf.random.stateless_uniform([len(color.JITTER_ORDER)], seeds[1]))
        gray = select.draw(seeds[2], rows, self.grayscale_prob)
        views = self._jitter_and_gray(crops, factors, order, gray)
        views, _ = blur_lib.random_gaussian_blur(views, seeds[3], blur_prob, blur_radius, self.blur_sigma)
        views, _ = color.random_solarize(views, seeds[4], solarize_prob, self.solarize_threshold)
        return tf.clip_by_value(views, 0.0, 1.0)  # blur's rounding can pass 1 by ~1e-7

    def get_config(self):
        return {"aspect_ratio": self.aspect_ratio, "flip_prob": self.flip_prob,
                "jitter_strength": self.jitter_strength, "jitter_prob": self.jitter_prob,
                "grayscale_prob": self.grayscale_prob, "blur_sigma": self.blur_sigma,
                "solarize_threshold": self.solarize_threshold, "random_order": self.random_order,
                "jit_compile": self.jit_compile, "rotation_degrees": self.rotation_degrees, "seed": self.seed}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
