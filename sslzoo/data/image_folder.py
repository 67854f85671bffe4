"""Class-per-subfolder image folders (root/<class>/<image>.png|jpg) as tf.data."""
import os

import tensorflow as tf

from sslzoo.data.image_bytes import whole_png_or_jpeg

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")


def _list_files(path):
    """-> (file paths, labels, class names), classes in sorted folder-name order."""
    if not os.path.isdir(path):
        raise ValueError(f"`path` must be a directory of class folders, got {path!r}")
    class_names = sorted(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d)))
    files, labels = [], []
    for label, name in enumerate(class_names):
        folder = os.path.join(path, name)
        for file in sorted(os.listdir(folder)):
            if file.lower().endswith(IMAGE_EXTENSIONS):
                files.append(os.path.join(folder, file))
                labels.append(label)
    if not files:
        raise ValueError(
            f"No images ({', '.join(IMAGE_EXTENSIONS)}) found in class subfolders of {path!r} "
            f"(class folders seen: {class_names})"
        )
    return files, labels, class_names


def image_folder(path, image_size=None, channels=3):
    """Reads root/<class_name>/<image> files into a tf.data pipeline.

    Labels are the positions of the class folders in sorted order. A file that is not a
    whole PNG or JPEG fails when read, with an error naming it.

    Args:
      path: root directory with one subfolder per class.
      image_size: int S to resize every image to (S, S) (bilinear, antialiased),
        or None to keep each image's own size.
      channels: channels to decode to (1 or 3).
    Returns:
      An unbatched tf.data.Dataset of (image uint8 (H, W, channels), label int64 ()),
      with attributes `class_names` (list of str) and `file_paths` (list of str).
    """
    if channels not in (1, 3):
        raise ValueError(f"`channels` must be 1 or 3, got {channels}")
    files, labels, class_names = _list_files(path)

    def read(file, label):
        data = tf.io.read_file(file)
        check = tf.debugging.Assert(whole_png_or_jpeg(data), [
            "image file", file, "is not a whole PNG or JPEG (truncated, empty or another format)"])
        with tf.control_dependencies([check]):
            image = tf.io.decode_image(data, channels=channels, expand_animations=False)
        if image_size is not None:
            size = (int(image_size), int(image_size))
            image = tf.image.resize(image, size, method="bilinear", antialias=True)
            image = tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)
        return image, label

    dataset = tf.data.Dataset.from_tensor_slices((files, tf.constant(labels, tf.int64)))
    dataset = dataset.map(read, num_parallel_calls=tf.data.AUTOTUNE)
    dataset.class_names = class_names
    dataset.file_paths = files
    return dataset
