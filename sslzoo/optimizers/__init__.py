"""Optimizers and learning-rate schedules for SSL pre-training.

    schedule = WarmupCosine(scaled_learning_rate(0.3, 4096), total_steps=10000, warmup_steps=500)
    optimizer = sslzoo.optimizers.get("lars", schedule, weight_decay=1e-6)
"""
import inspect

import keras

from sslzoo.optimizers.lars import DEFAULT_EXCLUDE_PATTERNS, LARS
from sslzoo.optimizers.schedules import WarmupCosine, scaled_learning_rate

OPTIMIZERS = {
    "sgd": keras.optimizers.SGD,
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "lars": LARS,
}


def get(name, learning_rate, **kwargs):
    """Builds optimizer `name` ("sgd", "adam", "adamw", "lars") with `learning_rate`
    (a float or a `LearningRateSchedule`) and its keyword arguments."""
    if name not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer name={name!r}; known names: {sorted(OPTIMIZERS)}")
    return OPTIMIZERS[name](learning_rate=learning_rate, **kwargs)


def defaults(name):
    """The keyword defaults optimizer `name` adds to a recipe (momentum, weight decay, betas, ...).

    Arguments every Keras optimizer shares (clipping, EMA, loss scaling) are left out.
    """
    if name not in OPTIMIZERS:
        raise ValueError(f"Unknown optimizer name={name!r}; known names: {sorted(OPTIMIZERS)}")
    shared = set(inspect.signature(keras.optimizers.Optimizer.__init__).parameters) | {"learning_rate"}
    return {key: parameter.default
            for key, parameter in inspect.signature(OPTIMIZERS[name].__init__).parameters.items()
            if key not in shared and parameter.default is not inspect.Parameter.empty}


__all__ = ["DEFAULT_EXCLUDE_PATTERNS", "LARS", "OPTIMIZERS", "WarmupCosine", "defaults", "get",
           "scaled_learning_rate"]
