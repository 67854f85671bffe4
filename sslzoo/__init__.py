"""sslzoo: self-supervised representation learning for Keras 3 / TensorFlow.

Submodules load on first use (``sslzoo.losses``, ``sslzoo.models``, ...), so
``import sslzoo`` itself is cheap.
"""
import importlib

__version__ = "0.1.0"

_SUBMODULES = (
    "augment", "backbones", "data", "distribute", "evaluation", "export", "heads",
    "losses", "models", "optimizers", "preprocessing", "replica", "text", "train",
)


def __getattr__(name):
    if name in _SUBMODULES:
        return importlib.import_module(f"sslzoo.{name}")
    raise AttributeError(f"module 'sslzoo' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_SUBMODULES))
