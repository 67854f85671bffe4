"""Figures for training runs: loss and probe-accuracy curves, 2-D embedding maps.

Uses matplotlib's non-interactive Agg backend, so it works on headless machines.
"""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _history_dict(history):
    """A keras History or its `.history` dict -> {name: list of per-epoch values}."""
    history = getattr(history, "history", history)
    if not isinstance(history, dict):
        raise ValueError(f"`history` must be a keras History or a dict of lists, got {type(history).__name__}")
    return history


def _draw_curves(axes, history, keys, ylabel):
    drawn = [key for key in keys if key in history]
    if not drawn:
        raise ValueError(f"`history` has none of the keys {list(keys)}; it has {sorted(history)}")
    for key in drawn:
        values = np.asarray(history[key], float)
        axes.plot(np.arange(1, len(values) + 1), values, marker="o", markersize=3, label=key)
    axes.set_xlabel("epoch")
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    axes.legend()


def _loss_keys(history):
    return [key for key in history if "loss" in key]


def _probe_keys(history):
    return [key for key in history if "probe" in key or "acc" in key or "top1" in key]


def _save(figure, path):
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def plot_loss(history, path):
    """Training (and validation) loss per epoch -> PNG at `path`. Returns `path`."""
    history = _history_dict(history)
    figure, axes = plt.subplots(figsize=(5, 3.5))
    _draw_curves(axes, history, _loss_keys(history), "loss")
    return _save(figure, path)


def plot_probe_accuracy(history, path):
    """Probe accuracy per epoch (keys with "probe", "acc" or "top1") -> PNG. Returns `path`."""
    history = _history_dict(history)
    figure, axes = plt.subplots(figsize=(5, 3.5))
    _draw_curves(axes, history, _probe_keys(history), "accuracy")
    return _save(figure, path)


COLLAPSE_KEYS = ("embedding_std", "effective_rank")


def plot_collapse(history, path):
    """The collapse monitor's embedding std and effective rank per epoch, side by side -> PNG.
    Returns `path`; raises ValueError when the history holds neither."""
    history = _history_dict(history)
    keys = [key for key in COLLAPSE_KEYS if key in history]
    if not keys:
        raise ValueError(f"`history` has none of {COLLAPSE_KEYS} (was sslzoo's CollapseMonitor used?)")
    figure, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.5), squeeze=False)
    for axes_, key in zip(axes[0], keys):
        _draw_curves(axes_, history, [key], key.replace("_", " "))
    return _save(figure, path)


def plot_history(history, path):
    """Loss and, when present, probe accuracy side by side in one PNG. Returns `path`."""
    history = _history_dict(history)
    probe_keys = _probe_keys(history)
    figure, axes = plt.subplots(1, 2 if probe_keys else 1, figsize=(10 if probe_keys else 5, 3.5), squeeze=False)
    _draw_curves(axes[0, 0], history, _loss_keys(history), "loss")
    if probe_keys:
        _draw_curves(axes[0, 1], history, probe_keys, "accuracy")
    return _save(figure, path)


def embedding_map(features, method="auto", seed=0):
    """2-D coordinates of features (N, F): PCA to 50 dims then t-SNE, or PCA only.

    Args:
      features: (N, F) array.
      method: "tsne" (needs scikit-learn), "pca", or "auto" (t-SNE when
        scikit-learn is installed and N > 5, else PCA).
    Returns:
      float numpy (N, 2).
    """
    x = np.asarray(features, np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError(f"`features` must be (N, F) with N >= 2, got shape {x.shape}")
    if method not in ("auto", "tsne", "pca"):
        raise ValueError(f"`method` must be 'auto', 'tsne' or 'pca', got {method!r}")
    x = x - x.mean(axis=0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)  # PCA by SVD
    reduced = x @ vt[:50].T
    if method == "auto":
        try:
            import sklearn  # noqa: F401
            method = "tsne" if len(x) > 5 else "pca"
        except ImportError:
            method = "pca"
    if method == "pca":
        return np.pad(reduced[:, :2], ((0, 0), (0, max(0, 2 - reduced.shape[1]))))
    from sklearn.manifold import TSNE

    perplexity = min(30.0, (len(x) - 1) / 3)
    return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(reduced)


def plot_embedding_map(features, labels, path, class_names=None, method="auto", seed=0):
    """Scatter plot of a 2-D embedding map, coloured by label, with a legend -> PNG.

    Args:
      features: (N, F) representations; labels: int (N,).
      class_names: optional names for the legend (index = label).
      method: see `embedding_map`.
    Returns:
      `path`.
    """
    labels = np.asarray(labels)
    if labels.shape != (len(features),):
        raise ValueError(f"`labels` must have shape ({len(features)},), got {labels.shape}")
    points = embedding_map(features, method, seed)
    figure, axes = plt.subplots(figsize=(6, 5))
    colours = plt.get_cmap("tab10" if labels.max() < 10 else "tab20")
    for label in np.unique(labels):
        chosen = labels == label
        name = class_names[label] if class_names is not None else str(label)
        axes.scatter(points[chosen, 0], points[chosen, 1], s=6, color=colours(int(label) % colours.N), label=name)
    axes.set_xticks([])
    axes.set_yticks([])
    axes.legend(markerscale=2, fontsize="small", loc="best")
    return _save(figure, path)
