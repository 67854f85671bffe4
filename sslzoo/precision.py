"""Mixed precision for training: one switch for the dtype policy and loss scaling.

    sslzoo.precision.set_precision("mixed_bfloat16")      # before building the model
    model = sslzoo.models.SimCLR(encoder)
    model.compile(optimizer=sslzoo.precision.loss_scaled(keras.optimizers.SGD(0.1)))

Under a mixed policy layers compute in bfloat16/float16 and keep float32
variables; sslzoo's losses (and SwAV's Sinkhorn) cast their inputs to float32,
so the loss and the logged metrics stay float32. float16 needs loss scaling
against gradient underflow: `loss_scaled` wraps the optimizer in Keras'
`LossScaleOptimizer` under a float16 policy (the objectives' train step calls
`optimizer.scale_loss`, so the wrapper takes effect without other changes).
Exported encoders are float32: build the export copy under `using_precision("float32")`.
"""
import contextlib

import keras

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def _check(precision):
    if precision not in PRECISIONS:
        raise ValueError(f"`precision` must be one of {PRECISIONS}, got {precision!r}")


def current_precision():
    """The global Keras dtype policy's name, e.g. "float32" or "mixed_bfloat16"."""
    return keras.config.dtype_policy().name


def set_precision(precision):
    """Sets the global Keras dtype policy for layers built from now on.

    Args:
      precision: one of `PRECISIONS`.
    Returns:
      The previous policy's name (to restore it later).
    """
    _check(precision)
    previous = current_precision()
    keras.config.set_dtype_policy(precision)
    return previous


@contextlib.contextmanager
def using_precision(precision):
    """Context manager: `set_precision(precision)` inside, the previous policy restored after."""
    previous = set_precision(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def loss_scaled(optimizer, precision=None):
    """Wraps `optimizer` in `keras.optimizers.LossScaleOptimizer` when `precision` is float16.

    Args:
      optimizer: a `keras.optimizers.Optimizer`.
      precision: one of `PRECISIONS`; default the current global policy.
    Returns:
      `optimizer` unchanged for float32 and bfloat16 (same exponent range as
      float32, no scaling needed); a `LossScaleOptimizer` (dynamic scale) for
      float16, unless it already is one.
    """
    precision = current_precision() if precision is None else precision
    _check(precision)
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise ValueError(f"`optimizer` must be a keras.optimizers.Optimizer, got {type(optimizer).__name__}")
    if precision != "mixed_float16" or isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer
    return keras.optimizers.LossScaleOptimizer(optimizer)
