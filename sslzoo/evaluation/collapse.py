"""Collapse monitor: per-dimension spread and effective rank of embeddings.

- `embedding_std(z)`: rows of z (N, D) L2-normalised, the standard deviation of each
  dimension over the N rows, averaged over the D dimensions. A collapsed
  representation (every row the same) gives 0; rows spread uniformly on the unit
  sphere give about 1/sqrt(D) (BYOL / SimSiam papers' monitor).
- `effective_rank(z)`: exp of the Shannon entropy of the singular values of z
  normalised to sum 1 (Roy & Vetterli 2007; RankMe): between 1 (rank one) and
  min(N, D) (all singular values equal).
- `CollapseMonitor`: a Keras callback logging both into the epoch logs and warning
  when std < 0.1 / sqrt(D) or rank < 1% of D.
"""
import warnings

import keras
import numpy as np
from absl import logging

# Floor of the row norms (a zero row stays zero) and of the singular-value distribution.
_EPSILON = 1e-12


def _as_matrix(z, name="z"):
    z = np.asarray(keras.ops.convert_to_numpy(z) if not isinstance(z, np.ndarray) else z, dtype=np.float64)
    if z.ndim != 2 or z.shape[0] < 2 or z.shape[1] < 1:
        raise ValueError(f"`{name}` must be a (N, D) matrix with N >= 2 rows, got shape {z.shape}")
    return z


def embedding_std(z):
    """Mean over dimensions of the std (over rows) of the L2-normalised rows of z.

    Args:
      z: (N, D) embeddings, N >= 2 (array or tensor).
    Returns:
      float in [0, 1]: 0 when collapsed, ~1/sqrt(D) when spread over the sphere.
    """
    z = _as_matrix(z)
    unit = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), _EPSILON)
    return float(np.mean(np.std(unit, axis=0)))


def effective_rank(z):
    """exp(entropy) of z's singular values normalised to a distribution.

    Args:
      z: (N, D) embeddings, N >= 2 (array or tensor); not centred.
    Returns:
      float in [1, min(N, D)] (0 for an all-zero z).
    """
    z = _as_matrix(z)
    singular = np.linalg.svd(z, compute_uv=False)
    total = singular.sum()
    if total <= 0:
        return 0.0
    p = singular / total
    p = p[p > _EPSILON]
    return float(np.exp(-np.sum(p * np.log(p))))


class CollapseMonitor(keras.callbacks.Callback):
    """Logs `embedding_std` and `effective_rank` of fixed images every few epochs.

    The model's embeddings come from `model.embed(images, space=space)` (sslzoo
    objectives) or, for any other model, `model.predict(images)`. Logged as
    `<prefix>embedding_std` and `<prefix>effective_rank`; warns (absl logging and
    `warnings`) when std < `std_threshold` / sqrt(D) or rank < `rank_fraction` x D.

    Args:
      images: (N, S, S, 3) array of monitor images (N >= 2; a few hundred is plenty).
      every_n_epochs: positive int.
      space: the embedding space passed to `model.embed` ("features" by default).
      batch_size: rows per forward pass.
      std_threshold: 0.1 (of 1 / sqrt(D)).
      rank_fraction: 0.01 (of D).
      prefix: log-key prefix.
    """

    def __init__(self, images, every_n_epochs=1, space="features", batch_size=256, std_threshold=0.1,
                 rank_fraction=0.01, prefix=""):
        super().__init__()
        if not isinstance(every_n_epochs, int) or every_n_epochs < 1:
            raise ValueError(f"`every_n_epochs` must be a positive int, got {every_n_epochs!r}")
        if len(images) < 2:
            raise ValueError(f"`images` must hold at least 2 images, got {len(images)}")
        self.images = images
        self.every_n_epochs = every_n_epochs
        self.space = space
        self.batch_size = int(batch_size)
        self.std_threshold = float(std_threshold)
        self.rank_fraction = float(rank_fraction)
        self.prefix = prefix
        self.history = []

    def _embeddings(self):
        if hasattr(self.model, "embed"):
            parts = [keras.ops.convert_to_numpy(self.model.embed(self.images[i: i + self.batch_size],
                                                                 space=self.space))
                     for i in range(0, len(self.images), self.batch_size)]
            return np.concatenate(parts)
        return self.model.predict(self.images, batch_size=self.batch_size, verbose=0)

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs:
            return
        z = self._embeddings()
        dim = z.shape[1]
        std, rank = embedding_std(z), effective_rank(z)
        if logs is not None:
            logs[f"{self.prefix}embedding_std"] = std
            logs[f"{self.prefix}effective_rank"] = rank
        self.history.append({"epoch": epoch, "embedding_std": std, "effective_rank": rank})
        problems = []
        if std < self.std_threshold / np.sqrt(dim):
            problems.append(f"embedding std {std:.3g} < {self.std_threshold} / sqrt({dim})")
        if rank < self.rank_fraction * dim:
            problems.append(f"effective rank {rank:.3g} < {self.rank_fraction:g} x {dim}")
        if problems:
            message = f"Representation collapse at epoch {epoch + 1}: " + "; ".join(problems)
            logging.warning(message)
            warnings.warn(message, RuntimeWarning, stacklevel=2)
