"""Tests for sslzoo.plots: PNG files are written and the embedding map separates clusters."""
import matplotlib.image
import numpy as np
import pytest

from sslzoo import plots

HISTORY = {"loss": [3.0, 2.5, 2.1, 2.0], "probe_top1": [0.3, 0.5, 0.6, 0.7]}


def _is_png(path, min_width):
    image = matplotlib.image.imread(str(path))
    return image.ndim == 3 and image.shape[1] >= min_width and image.std() > 0


def test_history_plots(tmp_path):
    assert _is_png(plots.plot_loss(HISTORY, tmp_path / "loss.png"), 400)
    assert _is_png(plots.plot_probe_accuracy(HISTORY, tmp_path / "probe.png"), 400)
    both = plots.plot_history(HISTORY, tmp_path / "both.png")
    assert _is_png(both, 900)  # two panels side by side
    assert _is_png(plots.plot_history({"loss": [1.0, 0.5]}, tmp_path / "loss_only.png"), 400)


def test_collapse_plot_has_a_panel_per_monitored_quantity(tmp_path):
    history = {"loss": [3.0, 2.0], "embedding_std": [0.05, 0.04], "effective_rank": [20.0, 25.0]}
    assert _is_png(plots.plot_collapse(history, tmp_path / "collapse.png"), 900)
    with pytest.raises(ValueError, match="CollapseMonitor"):
        plots.plot_collapse({"loss": [1.0]}, tmp_path / "none.png")


def test_history_plot_errors(tmp_path):
    with pytest.raises(ValueError, match="none of the keys"):
        plots.plot_probe_accuracy({"loss": [1.0]}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="keras History or a dict"):
        plots.plot_loss([1.0, 2.0], tmp_path / "x.png")


def _clusters(rng, per_class=30, dim=20):
    labels = np.repeat(np.arange(3), per_class)
    return 10.0 * np.eye(3, dim)[labels] + rng.randn(len(labels), dim), labels


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_embedding_map_keeps_clusters_apart(method):
    features, labels = _clusters(np.random.RandomState(0))
    points = plots.embedding_map(features, method=method)
    assert points.shape == (90, 2)
    centres = np.stack([points[labels == c].mean(0) for c in range(3)])
    spread = max(np.linalg.norm(points[labels == c] - centres[c], axis=1).mean() for c in range(3))
    gaps = [np.linalg.norm(centres[a] - centres[b]) for a, b in [(0, 1), (0, 2), (1, 2)]]
    assert min(gaps) > 2 * spread


def test_pca_map_matches_covariance_eigenvectors():
    features, _ = _clusters(np.random.RandomState(1))
    centred = features - features.mean(0)
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(centred, rowvar=False))
    expected = centred @ eigenvectors[:, np.argsort(eigenvalues)[::-1][:2]]
    points = plots.embedding_map(features, method="pca")
    # float64 PCA (SVD) vs numpy on O(1) data: eps64 x condition ~1e-13; 1e-8 allows the sign-free
    # comparison of near-degenerate components.
    np.testing.assert_allclose(np.abs(points), np.abs(expected), atol=1e-8)


def test_plot_embedding_map(tmp_path):
    features, labels = _clusters(np.random.RandomState(2))
    path = plots.plot_embedding_map(features, labels, tmp_path / "map.png", class_names=["a", "b", "c"])
    assert _is_png(path, 500)
    with pytest.raises(ValueError, match="labels"):
        plots.plot_embedding_map(features, labels[:5], tmp_path / "bad.png")
