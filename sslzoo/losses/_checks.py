"""Input validation and compute-dtype casting shared by the losses.

Losses compute in float64 when given float64 embeddings (so replica-split
exactness can be proven to ~1e-12) and in float32 for every narrower or
non-float type (bf16, fp16, integers, bools), as mixed precision wants.

Every check reads static shapes only (no data-dependent Python branching), so
the losses trace under `tf.function` and compile with XLA. Bad input raises
ValueError naming the argument and what was seen and expected.
"""
import numpy as np
import tensorflow as tf


def compute_dtype(*tensors):
    """float64 if any of `tensors` is float64, else float32: the dtype a loss computes in."""
    return tf.float64 if any(t.dtype == tf.float64 for t in tensors) else tf.float32


def as_float(x, name, dtype=None):
    """Converts `x` to a float tensor: `dtype` if given, else float64 stays, everything else float32.

    Raises:
      ValueError: `x` is not numeric.
    """
    x = tf.convert_to_tensor(x)
    if not (x.dtype.is_floating or x.dtype.is_integer or x.dtype.is_bool):
        raise ValueError(f"`{name}` must be a numeric tensor, got dtype {x.dtype.name}")
    if dtype is None:
        dtype = tf.float64 if x.dtype == tf.float64 else tf.float32
    return tf.cast(x, dtype)


def as_float_pair(x, y, name_x, name_y):
    """`x` and `y` as float tensors of one compute dtype (float64 if either is float64)."""
    x, y = as_float(x, name_x), as_float(y, name_y)
    dtype = compute_dtype(x, y)
    return tf.cast(x, dtype), tf.cast(y, dtype)


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


def positive_float(value, name, dtype=tf.float32):
    """`value` as a `dtype` scalar; raises ValueError if it is statically known and not > 0.

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
    if isinstance(value, (int, float, np.number, np.ndarray)):
        return tf.constant(value, dtype)  # tf.cast of a Python float would round it to float32 first
    return tf.cast(value, dtype)


def as_weight(value, dtype):
    """A loss weight as a `dtype` scalar; Python and numpy numbers go straight to `dtype`."""
    if isinstance(value, (int, float, np.number)):
        return tf.constant(value, dtype)
    return tf.cast(value, dtype)


def check_int_at_least(value, minimum, name):
    """Raises ValueError unless `value` is a Python int >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}, got {value!r}")
