"""Optimizers and learning-rate schedules for SSL pre-training.

    schedule = WarmupCosine(scaled_learning_rate(0.3, 4096), total_steps=10000, warmup_steps=500)
    optimizer = sslzoo.optimizers.get("lars", schedule, weight_decay=1e-6)
"""
import inspect

import keras

from sslzoo.optimizers.lars import DEFAULT_EXCLUDE_PATTERNS, LARS
from sslzoo.optimizers.schedules import WarmupCosine, scaled_learning_rate
from sslzoo.optimizers.sgd import SGDL2

OPTIMIZERS = {
    "sgd": keras.optimizers.SGD,
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "lars": LARS,
    "sgd_l2": SGDL2,  # PyTorch's SGD: weight decay added to the gradient
}


def get(name, learning_rate, **kwargs):
    """Builds optimizer `name` ("sgd", "sgd_l2", "adam", "adamw", "lars") with `learning_rate`
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


def _slot_prefix(variable):
    return variable.path.replace("/", "_") + "_"


def slot_variables(optimizer, variable, trained_variables=()):
    """The optimizer variables that hold per-variable state of `variable` (momentum,
    Adam moments, LARS velocity, EMA averages, gradient accumulators).

    Keras names each of them `{variable.path with "/" -> "_"}_{slot}`
    (`Optimizer.add_variable_from_reference`); the optimizer must be built. Raises
    ValueError if another of `trained_variables` has a path that would make that
    prefix ambiguous (its slots could be taken for `variable`'s).

    Args:
      optimizer: a built `keras.optimizers.Optimizer` (a `LossScaleOptimizer`'s
        `variables` include its inner optimizer's).
      variable: a Keras variable the optimizer trains.
      trained_variables: every variable the optimizer trains, for the ambiguity check.
    Returns:
      list of Keras variables (empty for plain SGD without momentum).
    """
    prefix = _slot_prefix(variable)
    clashes = [v.path for v in trained_variables if v is not variable and _slot_prefix(v).startswith(prefix)]
    if clashes:
        raise ValueError(f"Cannot tell the optimizer slots of {variable.path!r} from those of {clashes}")
    return [v for v in optimizer.variables if v.name.startswith(prefix)]


__all__ = ["DEFAULT_EXCLUDE_PATTERNS", "LARS", "OPTIMIZERS", "SGDL2", "WarmupCosine", "defaults", "get",
           "scaled_learning_rate", "slot_variables"]
