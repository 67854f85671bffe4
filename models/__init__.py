"""Self-supervised objectives: each a `keras.Model` with its own `train_step`.

All derive from `sslzoo.models.base.SSLModel` and train with `model.fit`.
Importing this package registers everything a saved `.keras` objective names
(its layers, LARS and the schedules), so `keras.saving.load_model` finds them.
"""
import sslzoo.optimizers  # noqa: F401  (registers LARS and WarmupCosine for load_model)
from sslzoo.models.barlow_twins import BarlowTwins
from sslzoo.models.base import SSLModel
from sslzoo.models.clip import CLIP
from sslzoo.models.moco import MoCo
from sslzoo.models.pair_contrastive import PairContrastive
from sslzoo.models.simclr import SimCLR
from sslzoo.models.swav import SwAV

__all__ = ["SSLModel", "PairContrastive", "SimCLR", "MoCo", "BarlowTwins", "SwAV", "CLIP"]
