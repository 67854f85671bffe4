"""The train step's NaN guard: the error, the checks on loss and gradients, and the message.

`SSLModel.train_step` (models/base.py) checks each step's loss and gradients before
applying them; a failed check raises `NonFiniteLossError` naming the objective, the
step, its logged values and the last finite ones.
"""
import re

import keras
import numpy as np
import tensorflow as tf

# The key of a step's values in the train step's logs (taken out before Keras sees them),
# and the first entry of a failed check's data.
STEP_VALUES = "_sslzoo_step_values"
STEP_NUMBER = "_sslzoo_step_number"
NAN_MARKER = "sslzoo: non-finite training step"


class NonFiniteLossError(tf.errors.InvalidArgumentError):
    """A training step's loss or gradient is NaN or infinite: training stops before it is applied.

    The message names the objective, the 1-based optimizer step, the logged values
    of that step and of the last finite one.
    """


def _dense_values(gradient):
    return gradient.values if isinstance(gradient, tf.IndexedSlices) else gradient


def _where_finite(finite, gradient):
    """`gradient` where `finite`, else zeros (IndexedSlices keep their indices)."""
    if gradient is None:
        return None
    if isinstance(gradient, tf.IndexedSlices):
        return tf.IndexedSlices(tf.where(finite, gradient.values, tf.zeros_like(gradient.values)), gradient.indices,
                                gradient.dense_shape)
    return tf.where(finite, gradient, tf.zeros_like(gradient))


def _host_vector(values):
    """A step-values tensor (maybe (1, T) under multi-worker) -> numpy (T,)."""
    return np.asarray(keras.ops.convert_to_numpy(values), np.float64).reshape(-1)


def _format_values(names, values):
    return ", ".join(f"{name}={float(value):.6g}" for name, value in zip(names, values))


def _assert_data(message, count):
    """(step, values) a failed `tf.debugging.Assert` printed after `NAN_MARKER`: "[3] [1 0 2.5 ...]".

    Either is None where the message does not hold it as expected.
    """
    fields = re.findall(r"\[([^\[\]]*)\]", message.split(NAN_MARKER, 1)[-1])
    step = values = None
    if fields and fields[0].strip().isdigit():
        step = int(fields[0])
    if len(fields) > 1:
        try:
            parsed = np.asarray([float(token) for token in fields[1].split()])
        except ValueError:
            parsed = None
        if parsed is not None and len(parsed) == count:
            values = parsed
    return step, values


def _is_multi_worker(strategy):
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
