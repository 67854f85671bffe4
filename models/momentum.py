"""`MomentumSSLModel`: an objective with an EMA teacher (MoCo, BYOL, DINO).

Frozen copies of chosen sub-layers move towards the online ones after every step,
`theta_t <- m theta_t + (1 - m) theta_s`, identically on every replica, with m on a
half-cosine from m0 to 1 over `momentum_schedule_steps` when the schedule is on.
"""
import keras
import numpy as np
import tensorflow as tf

from sslzoo import keras_internals, replica
from sslzoo.backbones.vit import DropPath
from sslzoo.models.base import SSLModel, build_layer

def clone_frozen(layer, input_shape):
    """A copy of `layer` with the same weights, built, whose variables no optimizer trains.

    The layers themselves stay trainable: a Keras layer with `trainable=False`
    runs batch norm in inference mode, with moving statistics nobody updates,
    whereas a momentum teacher normalises with the batch's statistics. Only each
    variable's `trainable` flag is cleared, so `model.trainable_variables` and
    the optimizer never see them; `MomentumSSLModel` moves them by momentum.
    """
    if isinstance(layer, keras.Model) and keras_internals.is_functional(layer):
        twin = keras.models.clone_model(layer)
    else:
        twin = layer.__class__.from_config(layer.get_config())
        build_layer(twin, input_shape)
    twin.set_weights(layer.get_weights())
    for variable in twin.variables:
        variable.trainable = False
    return twin


def without_stochastic_depth(layer):
    """Sets the rate of every `DropPath` in `layer` (nested models included) to 0."""
    stack = [layer]
    while stack:
        current = stack.pop()
        if isinstance(current, DropPath):
            current.rate = 0.0
        stack.extend(getattr(current, "layers", None) or [])


class MomentumSSLModel(SSLModel):
    """An objective with an EMA teacher: frozen copies of chosen sub-layers.

    After every optimizer step each teacher weight moves as
    `theta_t <- m theta_t + (1 - m) theta_s` (identically on every replica), with
    `m = 1 - (1 - m0) (cos(pi t / T) + 1) / 2` rising from m0 to 1 over
    `momentum_schedule_steps` T (None: constant m0). MoCo, BYOL and DINO differ
    only in their loss.

    Args:
      momentum: m0.
      momentum_schedule_steps: T, usually the training's total steps; None keeps m0.

    Subclasses create teachers with `self.teacher(layer, input_shape)` in
    `__init__`, report `"momentum": self.current_momentum()` among their outputs
    and call `super().after_train_step(batch, outputs)` if they override it.
    """

    # Whether recipes default `momentum_schedule_steps` to the training's total steps.
    cosine_momentum_by_default = True

    def __init__(self, *args, momentum=0.99, momentum_schedule_steps=None, **kwargs):
        super().__init__(*args, **kwargs)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"`momentum` must be in [0, 1], got {momentum}")
        if momentum_schedule_steps is not None and (not isinstance(momentum_schedule_steps, int)
                                                    or momentum_schedule_steps < 1):
            raise ValueError(f"`momentum_schedule_steps` must be None or a positive int, got "
                             f"{momentum_schedule_steps!r}")
        self.momentum = float(momentum)
        self.momentum_schedule_steps = momentum_schedule_steps
        object.__setattr__(self, "_teacher_pairs", [])  # (student, teacher); both tracked as attributes

    def teacher(self, layer, input_shape):
        """A frozen copy of `layer` that follows it by momentum; returns the copy.

        The copy has no stochastic depth (every `DropPath` rate 0), as DINO builds its
        teacher ViT without `drop_path_rate` while the student drops paths: the target of a
        step should not be noisier than the weights it averages."""
        copy = clone_frozen(layer, input_shape)
        without_stochastic_depth(copy)
        self._teacher_pairs.append((layer, copy))
        return copy

    def current_momentum(self):
        """m for this step (float32 scalar)."""
        if not self.momentum_schedule_steps:
            return tf.constant(self.momentum, tf.float32)
        progress = tf.minimum(
            tf.cast(self.optimizer.iterations, tf.float32) / float(self.momentum_schedule_steps), 1.0)
        return 1.0 - (1.0 - self.momentum) * (tf.cos(np.pi * progress) + 1.0) / 2.0

    def after_train_step(self, batch, outputs):
        momentum = outputs["momentum"]
        targets, values = [], []
        for student, teacher in self._teacher_pairs:
            for s_var, t_var in zip(student.variables, teacher.variables):
                if s_var.trainable:
                    m = tf.cast(momentum, t_var.dtype)
                    targets.append(t_var)
                    values.append(m * tf.convert_to_tensor(t_var) + (1.0 - m) * tf.convert_to_tensor(s_var))
        replica.assign(targets, values)

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum,
                "momentum_schedule_steps": self.momentum_schedule_steps}
