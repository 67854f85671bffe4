"""Class-balanced label subsets for semi-supervised evaluation (1%, 10% labels)."""
import numpy as np


def label_fraction(labels, fraction, seed=0):
    """Indices of a class-balanced subset holding `fraction` of each class.

    Each class c contributes round(fraction * count_c) examples, drawn without
    replacement with `numpy.random.RandomState(seed)`.

    Args:
      labels: int (N,) class labels.
      fraction: float in (0, 1].
      seed: int seed of the draw.
    Returns:
      int64 (M,) sorted indices into `labels`.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"`labels` must be 1-D (N,), got shape {labels.shape}")
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"`fraction` must be in (0, 1], got {fraction}")
    rng = np.random.RandomState(seed)
    chosen = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        take = int(round(fraction * len(members)))
        if take == 0:
            raise ValueError(
                f"`fraction`={fraction} leaves class {c} with 0 examples "
                f"(it has {len(members)}); use a larger fraction"
            )
        chosen.append(rng.choice(members, size=take, replace=False))
    return np.sort(np.concatenate(chosen)).astype(np.int64)
