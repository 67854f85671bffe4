"""MultiCrop: 2 large global crops and `num_local` small local crops (SwAV, DINO).

    dataset = dataset.batch(64).map(MultiCrop(224, 96, num_local=6))
    SwAV(...).fit(dataset)          # batches are (global_1, global_2, local_1, ..., local_6)

Globals and locals share the colour pipeline of `views.ViewAugment`; the
blur and solarize probabilities of the two globals may differ (DINO:
blur (1.0, 0.1), solarize (0.0, 0.2); locals blur 0.5).
"""
import keras
import tensorflow as tf

from sslzoo.augment import blur as blur_lib
from sslzoo.augment import crop
from sslzoo.augment import views

NUM_GLOBAL = 2


@keras.saving.register_keras_serializable(package="sslzoo")
class MultiCrop(views.ViewAugment):
    """Callable on a batch of images, returns the tuple of crops, globals first.

    Args:
      global_size: int, side of the 2 global crops.
      local_size: int, side of the local crops.
      num_local: int >= 0, number of local crops.
      global_area, local_area: (low, high) area fractions of the source.
      blur_prob, solarize_prob: float or (p_global_1, p_global_2).
      local_blur_prob, local_solarize_prob: floats for every local crop.
      Other arguments as in `SimCLRAugment`.

    Call args:
      images: (B, H, W, C) uint8 in [0, 255] or float in [0, 1], C in {1, 3}.
      seed: optional int tensor (2,) overriding the seed stream for this call.
    Returns:
      tuple of 2 + num_local float32 tensors in [0, 1]: 2 x (B, G, G, 3) then
      num_local x (B, L, L, 3).
    """

    def __init__(self, global_size, local_size, num_local, global_area=(0.14, 1.0),
                 local_area=(0.05, 0.14), aspect_ratio=(3 / 4, 4 / 3), flip_prob=0.5,
                 jitter_strength=1.0, jitter_prob=0.8, grayscale_prob=0.2, blur_prob=0.5,
                 local_blur_prob=0.5, solarize_prob=0.0, local_solarize_prob=0.0,
                 solarize_threshold=0.5, blur_sigma=(0.1, 2.0), random_order=True, jit_compile=True,
                 rotation_degrees=0.0, seed=None):
        super().__init__(aspect_ratio=aspect_ratio, flip_prob=flip_prob, jitter_strength=jitter_strength,
                         jitter_prob=jitter_prob, grayscale_prob=grayscale_prob, blur_sigma=blur_sigma,
                         solarize_threshold=solarize_threshold, random_order=random_order,
                         jit_compile=jit_compile, rotation_degrees=rotation_degrees, seed=seed)
        for name, size in (("global_size", global_size), ("local_size", local_size)):
            if int(size) < 2:
                raise ValueError(f"`{name}` must be an int >= 2, got {size!r}")
        if int(num_local) < 0:
            raise ValueError(f"`num_local` must be >= 0, got {num_local!r}")
        self.global_size, self.local_size, self.num_local = int(global_size), int(local_size), int(num_local)
        self.global_area = crop.check_range(global_area, "global_area", 0.0, 1.0)
        self.local_area = crop.check_range(local_area, "local_area", 0.0, 1.0)
        self.blur_prob = views.per_view_probs(blur_prob, "blur_prob", NUM_GLOBAL)
        self.solarize_prob = views.per_view_probs(solarize_prob, "solarize_prob", NUM_GLOBAL)
        self.local_blur_prob = views.check_prob(local_blur_prob, "local_blur_prob")
        self.local_solarize_prob = views.check_prob(local_solarize_prob, "local_solarize_prob")

    def _crops(self, images, seed, size, area, num_crops, blur_prob, solarize_prob):
        crop_seed, view_seed = tf.unstack(tf.random.experimental.stateless_split(seed, num=2))
        crops = crop.random_resized_crop(images, size, crop_seed, area, self.aspect_ratio,
                                         self.flip_prob, num_crops=num_crops)
        crops = views.crops_to_unit_rgb(crops, images.dtype)
        batch = tf.shape(images)[0]
        crops = self.augment_crops(crops, view_seed, views.rows_per_view(blur_prob, batch),
                                   views.rows_per_view(solarize_prob, batch),
                                   blur_lib.default_kernel_radius(size))
        return tf.split(crops, num_crops, axis=0)

    def __call__(self, images, seed=None):
        images = views.check_images(images)
        global_seed, local_seed = tf.unstack(
            tf.random.experimental.stateless_split(self.seeds.next(seed), num=2))
        outputs = self._crops(images, global_seed, self.global_size, self.global_area, NUM_GLOBAL,
                              self.blur_prob, self.solarize_prob)
        if self.num_local:
            outputs += self._crops(images, local_seed, self.local_size, self.local_area, self.num_local,
                                   [self.local_blur_prob] * self.num_local,
                                   [self.local_solarize_prob] * self.num_local)
        return tuple(outputs)

    def get_config(self):
        config = super().get_config()
        config.update({"global_size": self.global_size, "local_size": self.local_size,
                       "num_local": self.num_local, "global_area": self.global_area,
                       "local_area": self.local_area, "blur_prob": tuple(self.blur_prob),
                       "solarize_prob": tuple(self.solarize_prob),
                       "local_blur_prob": self.local_blur_prob,
                       "local_solarize_prob": self.local_solarize_prob})
        return config
