"""Image views for self-supervised learning, vectorised over batches for tf.data.

- `SimCLRAugment(image_size, ...)`: batch -> (view_1, view_2), float32 [0, 1].
- `MultiCrop(global_size, local_size, num_local, ...)`: batch -> crops, globals first.
- `ClipAffine(...)`: video (B, T, H, W, C) -> the same, one random affine map per clip.
- `DIGITS_RECIPE`: SimCLRAugment keyword arguments for grey, non-mirror-symmetric digits.
- Building blocks with per-image parameters: `random_resized_crop`,
  `sample_crop_boxes`, `color_jitter`, `gaussian_blur`, ...; `preview` draws a PNG.
"""
from sslzoo.augment.blur import gaussian_blur, gaussian_kernels, random_gaussian_blur
from sslzoo.augment.clips import ClipAffine
from sslzoo.augment.color import (color_jitter, random_grayscale, random_solarize,
                                  sample_jitter_factors)
from sslzoo.augment.crop import crop_and_resize_boxes, random_resized_crop, sample_crop_boxes
from sslzoo.augment.multicrop import MultiCrop
from sslzoo.augment.preview import preview
from sslzoo.augment.simclr import DIGITS_RECIPE, SimCLRAugment

__all__ = [
    "ClipAffine", "DIGITS_RECIPE", "MultiCrop", "SimCLRAugment", "color_jitter", "crop_and_resize_boxes",
    "gaussian_blur", "gaussian_kernels", "preview", "random_gaussian_blur", "random_grayscale",
    "random_resized_crop", "random_solarize", "sample_crop_boxes", "sample_jitter_factors",
]
