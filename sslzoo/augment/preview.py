"""A PNG grid of source images and their augmented views, for eyeballing a recipe."""
import numpy as np

from sslzoo import preprocessing


def preview(images, augment, path, num_views=None, title=None, seed=None):
    """Writes a grid: one row per image, the source first, then its views.

    Args:
      images: (B, H, W, C) uint8 or float in [0, 1], C in {1, 3}; B rows are drawn.
      augment: callable on the batch returning a tuple of views, each
        (B, S_v, S_v, 3) (e.g. `SimCLRAugment`, `MultiCrop`). It is called
        repeatedly until `num_views` views are collected.
      path: output PNG path.
      num_views: views per row; None = one call's worth.
      title: optional figure title.
      seed: optional int; call k uses the stateless seed (seed, k).
    Returns:
      `path`.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    images = np.asarray(images)
    if images.ndim != 4 or images.shape[0] < 1:
        raise ValueError(f"`images` must be a non-empty batch (B, H, W, C), got shape {images.shape}")
    sources = preprocessing.to_rgb(preprocessing.to_unit_float(images)).numpy()
    collected, call = [], 0
    while not collected or (num_views is not None and len(collected) < num_views):
        call_seed = None if seed is None else (int(seed), call)
        collected += [np.asarray(view) for view in augment(images, seed=call_seed)]
        call += 1
    if num_views is not None:
        collected = collected[:num_views]
    rows, cols = images.shape[0], 1 + len(collected)
    figure, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.6 * rows), squeeze=False)
    for row in range(rows):
        tiles = [sources[row]] + [view[row] for view in collected]
        for col, tile in enumerate(tiles):
            axis = axes[row, col]
            axis.imshow(np.clip(tile, 0.0, 1.0), interpolation="nearest")
            axis.set_xticks([])
            axis.set_yticks([])
            if row == 0:
                axis.set_title("source" if col == 0 else f"view {col}", fontsize=8)
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
    return path
