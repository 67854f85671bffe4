"""SimCLRAugment: two random views of every image of a batch (Chen et al. 2020).

    dataset = dataset.batch(256).map(SimCLRAugment(32), num_parallel_calls=tf.data.AUTOTUNE)
    SimCLR(...).fit(dataset)        # batches are (view_1, view_2)

Per view: random resized crop + horizontal flip (one crop_and_resize for the
whole batch), then colour jitter, greyscale, Gaussian blur and solarize, each
drawn per image (see `views.ViewAugment`).
"""
import keras
import tensorflow as tf

from sslzoo.augment import blur as blur_lib
from sslzoo.augment import crop
from sslzoo.augment import views

# Digits are grey and not mirror-symmetric: no flip, no greyscale (already grey;
# saturation and hue do nothing on grey images), larger crops, lighter jitter.
# Small rotations (+-15 degrees) keep a digit's class: SimCLR on the bundled digits went
# from 0.970 to 0.973 linear and 0.932 to 0.963 kNN top-1 with them.
DIGITS_RECIPE = {"crop_area": (0.3, 1.0), "flip_prob": 0.0, "jitter_strength": 0.5,
                 "grayscale_prob": 0.0, "blur_prob": 0.5, "solarize_prob": 0.0, "rotation_degrees": 15.0}


@keras.saving.register_keras_serializable(package="sslzoo")
class SimCLRAugment(views.ViewAugment):
    """Callable on a batch of images, returns `(view_1, view_2)`.

    Args:
      image_size: int S, the side of the square views.
      crop_area: (low, high) fraction of the source area each crop covers.
      aspect_ratio: (low, high) crop width / height.
      flip_prob: chance of a horizontal flip.
      jitter_strength: s; brightness, contrast, saturation 0.8s, hue 0.2s.
      jitter_prob: chance that colour jitter is applied.
      grayscale_prob: chance of converting to greyscale.
      blur_prob: float, or (p_view_1, p_view_2) for asymmetric recipes
        (BYOL: (1.0, 0.1)).
      solarize_prob: float or (p_view_1, p_view_2) (BYOL: (0.0, 0.2)).
      solarize_threshold: pixels >= it are inverted.
      blur_sigma: (low, high) range of the blur's standard deviation in pixels.
      blur_radius: kernel radius; None = `image_size // 20` (23 taps at 224).
      rotation_degrees: each view turned by an angle drawn from
        [-rotation_degrees, rotation_degrees] about its centre (0: no rotation;
        digits use 15).
      random_order: jitter steps in a random order (drawn once per call).
      jit_compile: run the elementwise jitter + greyscale block under XLA
        (same views, ~5x faster on CPU; compiles once per batch shape).
      seed: int for reproducible views (two instances with the same seed give
        the same views for the same sequence of calls), or None.

    Call args:
      images: (B, H, W, C) uint8 in [0, 255] or float in [0, 1], C in {1, 3}.
      seed: optional int tensor (2,) overriding the instance's seed stream for
        this call. The stream hands seeds out in call order, which under
        `num_parallel_calls > 1` depends on scheduling; for exactly reproducible
        parallel pipelines zip in per-batch seeds instead:
        `tf.data.Dataset.zip(batches, tf.data.Dataset.random(seed=1).batch(2))
        .map(lambda x, s: augment(x, seed=s), num_parallel_calls=...)`.
    Returns:
      `(view_1, view_2)`, each float32 (B, S, S, 3) in [0, 1].
    """

    def __init__(self, image_size, crop_area=(0.08, 1.0), aspect_ratio=(3 / 4, 4 / 3), flip_prob=0.5,
                 jitter_strength=1.0, jitter_prob=0.8, grayscale_prob=0.2, blur_prob=0.5,
                 solarize_prob=0.0, solarize_threshold=0.5, blur_sigma=(0.1, 2.0), blur_radius=None,
                 random_order=True, jit_compile=True, rotation_degrees=0.0, seed=None):
        super().__init__(aspect_ratio=aspect_ratio, flip_prob=flip_prob, jitter_strength=jitter_strength,
                         jitter_prob=jitter_prob, grayscale_prob=grayscale_prob, blur_sigma=blur_sigma,
                         solarize_threshold=solarize_threshold, random_order=random_order,
                         jit_compile=jit_compile, rotation_degrees=rotation_degrees, seed=seed)
        if int(image_size) < 2:
            raise ValueError(f"`image_size` must be an int >= 2, got {image_size!r}")
        self.image_size = int(image_size)
        self.crop_area = crop.check_range(crop_area, "crop_area", 0.0, 1.0)
        self.blur_prob = views.per_view_probs(blur_prob, "blur_prob", 2)
        self.solarize_prob = views.per_view_probs(solarize_prob, "solarize_prob", 2)
        self.blur_radius = (blur_lib.default_kernel_radius(self.image_size) if blur_radius is None
                            else int(blur_radius))
        if not 1 <= self.blur_radius < self.image_size:
            raise ValueError(f"`blur_radius` must be in [1, image_size), got {blur_radius}")

    @classmethod
    def for_digits(cls, image_size, **overrides):
        """The digits-friendly recipe (`DIGITS_RECIPE`), with any argument overridden."""
        return cls(image_size, **{**DIGITS_RECIPE, **overrides})

    def __call__(self, images, seed=None):
        images = views.check_images(images)
        call_seed = self.seeds.next(seed)
        crop_seed, view_seed = tf.unstack(tf.random.experimental.stateless_split(call_seed, num=2))
        crops = crop.random_resized_crop(images, self.image_size, crop_seed, self.crop_area,
                                         self.aspect_ratio, self.flip_prob, num_crops=2)
        crops = views.crops_to_unit_rgb(crops, images.dtype)
        batch = tf.shape(images)[0]
        both = self.augment_crops(crops, view_seed, views.rows_per_view(self.blur_prob, batch),
                                  views.rows_per_view(self.solarize_prob, batch), self.blur_radius)
        view_1, view_2 = tf.split(both, 2, axis=0)
        return view_1, view_2

    def get_config(self):
        config = super().get_config()
        config.update({"image_size": self.image_size, "crop_area": self.crop_area,
                       "blur_prob": tuple(self.blur_prob), "solarize_prob": tuple(self.solarize_prob),
                       "blur_radius": self.blur_radius})
        return config
