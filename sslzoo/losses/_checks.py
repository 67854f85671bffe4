"""Input validation and float32 casting shared by the losses.

Every check reads static shapes only (no data-dependent Python branching), so
the losses trace under `tf.function` and compile with XLA. Bad input raises
ValueError naming the argument and what was seen and expected.
"""
import numpy as np
import tensorflow as tf


def as_float32(x, name):
    """Converts `x` to a float32 tensor (bf16, fp16, fp64, integers and bools are cast).

    Raises:
      ValueError: `x` is not numeric.
    """
    x = tf.convert_to_tensor(x)
    if not (x.dtype.is_floating or x.dtype.is_integer or x.dtype.is_bool):
        raise ValueError(f"`{name}` must be a numeric tensor, got dtype {x.dtype.name}")
    return tf.cast(x, tf.float32)


def check_rank(x, rank, name, layout):
    """Raises ValueError unless `x` has static rank `rank` (`layout` names the axes)."""
    if x.shape.rank is not None and x.shape.rank != rank:
        raise ValueError(f"`{name}` must have rank {rank} {layout}, got shape {x.shape}")


def check_dims(x, axis, expected, name, expected_from):
    """Raises ValueError when x.shape[axis] and `expected` are both known and differ."""
    got = x.shape[axis] if x.shape.rank is not None else None
    if got is not None and expected is not None and got != expected:
        raise ValueError(
            f"`{name}` axis {axis} must match {expected_from} ({expected}), got shape {x.shape}"
        )


def check_same_shape(a, b, name_a, name_b):
    """Raises ValueError when the static shapes of `a` and `b` are incompatible."""
    if not a.shape.is_compatible_with(b.shape):
        raise ValueError(f"`{name_a}` and `{name_b}` must have the same shape, got {a.shape} and {b.shape}")


def positive_float32(value, name):
    """`value` as a float32 scalar; raises ValueError if it is statically known and not > 0.

    Python and numpy numbers and constant tensors are checked; variables and
    tensors whose value is only known at run time (a learnable scale) pass.
    """
    if isinstance(value, (int, float, np.number, np.ndarray)):
        static = np.asarray(value)
    elif isinstance(value, tf.Tensor):
        static = tf.get_static_value(value)
    else:
        static = None
    if static is not None:
        static = np.asarray(static)
        if static.size != 1 or not np.issubdtype(static.dtype, np.number) or not float(static) > 0.0:
            raise ValueError(f"`{name}` must be a positive number, got {value!r}")
    return tf.cast(value, tf.float32)


def check_int_at_least(value, minimum, name):
    """Raises ValueError unless `value` is a Python int >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}")
