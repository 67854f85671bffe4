"""Zero-shot classification with an image-text model (CLIP style prompt ensembles)."""
import numpy as np
import tensorflow as tf

from sslzoo.evaluation.features import check_labels, top_k_accuracy


def _unit(x):
    x = np.asarray(x, np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def class_embeddings(model, class_names, templates, batch_size=256):
    """One embedding per class: mean of its L2-normalised prompt embeddings, re-normalised.

    Args:
      model: object with `encode_text(tf.string (M,)) -> (M, D)`.
      class_names: C strings; templates: T strings each containing "{}".
    Returns:
      float64 numpy (C, D), unit rows.
    """
    if not templates or not all("{}" in t for t in templates):
        raise ValueError(f"`templates` must be non-empty strings containing '{{}}', got {templates!r}")
    prompts = [template.format(name) for name in class_names for template in templates]
    embedded = [np.asarray(model.encode_text(tf.constant(prompts[i:i + batch_size])))
                for i in range(0, len(prompts), batch_size)]
    embedded = _unit(np.concatenate(embedded, axis=0)).reshape(len(class_names), len(templates), -1)
    return _unit(embedded.mean(axis=1))


def zero_shot(model, images, labels, class_names, templates, batch_size=256):
    """Zero-shot accuracy: each image goes to the class whose prompt embedding is closest.

    Args:
      model: object with `encode_image(images) -> (N, D)` (raw uint8 or float
        images, preprocessed by the model) and `encode_text(tf.string (M,)) -> (M, D)`.
      images: (N, H, W, C) images as the model's `encode_image` takes them.
      labels: int (N,) in [0, len(class_names)).
      class_names: C class names; templates: prompts with "{}", e.g. "a photo of a {}.".
    Returns:
      {"top1": float, "top5": float (when C > 5)}.
    """
    labels = check_labels(labels, len(images), "labels")
    if labels.max() >= len(class_names):
        raise ValueError(f"`labels` go up to {labels.max()} but only {len(class_names)} class_names were given")
    classes = class_embeddings(model, class_names, templates, batch_size)
    scores = [_unit(model.encode_image(images[i:i + batch_size])) @ classes.T
              for i in range(0, len(images), batch_size)]
    return top_k_accuracy(np.concatenate(scores, axis=0), labels)
