"""Optimizers and learning-rate schedules for SSL pre-training.

    schedule = WarmupCosine(scaled_learning_rate(0.3, 4096), total_steps=10000, warmup_steps=500)
    optimizer = sslzoo.optimizers.get("lars", schedule, weight_decay=1e-6)
"""
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


__all__ = ["DEFAULT_EXCLUDE_PATTERNS", "LARS", "OPTIMIZERS", "WarmupCosine", "get",
           "scaled_learning_rate"]
