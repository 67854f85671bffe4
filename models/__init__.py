"""Self-supervised objectives: each a `keras.Model` with its own `train_step`.

All derive from `sslzoo.models.SSLModel` (or `MomentumSSLModel`) and train with
`model.fit`. One registry names them: `register(name)` (class decorator),
`get(name)`, `available()`. Importing this package registers every objective
and everything a saved `.keras` objective names (layers, encoders, tokenizers,
LARS and the schedules), so `keras.saving.load_model` finds them. Every module of
this package is imported, so an objective added as one file here registers itself.
"""
import importlib
import pkgutil

import sslzoo.backbones  # noqa: F401  (registers the encoders' layers for load_model)
import sslzoo.optimizers  # noqa: F401  (registers LARS and WarmupCosine for load_model)
import sslzoo.text  # noqa: F401  (registers text encoders and tokenizers for load_model)
from sslzoo.models.barlow_twins import BarlowTwins
from sslzoo.models.base import SSLModel
from sslzoo.models.momentum import MomentumSSLModel
from sslzoo.models.byol import BYOL
from sslzoo.models.clip import CLIP
from sslzoo.models.dino import DINO
from sslzoo.models.moco_v2 import MoCoV2
from sslzoo.models.mmv import MMV
from sslzoo.models.moco_v3 import MoCoV3
from sslzoo.models.pair_contrastive import PairContrastive
from sslzoo.models.registry import available, get, register
from sslzoo.models.simclr import SimCLR
from sslzoo.models.simsiam import SimSiam
from sslzoo.models.swav import SwAV
from sslzoo.models.vicreg import VICReg

for _module in pkgutil.iter_modules(__path__, __name__ + "."):
    importlib.import_module(_module.name)

__all__ = [
    "BYOL", "BarlowTwins", "CLIP", "MMV", "DINO", "MoCoV2", "MoCoV3", "MomentumSSLModel", "PairContrastive", "SSLModel", "SimCLR",
    "SimSiam", "SwAV", "VICReg", "available", "get", "register",
]
