"""LARS: layer-wise adaptive rate scaling (You et al. 2017), as in SimCLR's code.

For each variable w with (all-reduced) gradient g, learning rate lr, momentum m,
weight decay wd and trust coefficient eta:

    d     = g + wd * w                                   (coupled L2 weight decay)
    trust = eta * ||w|| / ||d||   (1 if ||w|| = 0 or ||d|| = 0)
    v     = m * v + lr * trust * d
    w     = w - v                    (nesterov: w = w - (m * v + lr * trust * d))

Excluded variables skip both the decay and the trust ratio (wd = 0, trust = 1),
so they follow plain SGD with momentum, at `excluded_learning_rate_factor * lr`
(Barlow Twins' main.py: 0.0048 / 0.2 for biases and batch-norm parameters).
The default rule excludes every variable of rank <= 1 (biases, BatchNorm/LayerNorm
gamma and beta) and every variable whose path contains "bias", "gamma" or "beta".

With `clip_lr` (solo-learn's LARS, `clip_lr: True` in its CIFAR configs; NVIDIA
apex LARC's `clip=True`) an adapted variable steps at `lr * min(trust / lr, 1)`
= `min(trust, lr)` instead of `lr * trust`: the layer-wise rate never exceeds
the global one. (solo-learn's trust ratio divides by ||g|| + wd ||w||, not by
||g + wd w|| as here and in SimCLR's code.)
"""
import keras
from keras import ops

DEFAULT_EXCLUDE_PATTERNS = ("bias", "gamma", "beta")


@keras.saving.register_keras_serializable(package="sslzoo")
class LARS(keras.optimizers.Optimizer):
    """LARS with momentum; a Keras 3 optimizer that works under tf.distribute and XLA.

    Args:
      learning_rate: float, `LearningRateSchedule` or callable.
      momentum: momentum m in [0, 1).
      weight_decay: coefficient wd of the L2 term added to the gradient.
      eta: trust coefficient.
      exclude_from_adaptation: which variables skip decay and trust ratio.
        None: the default rule above. A sequence of strings: rank <= 1 or
        path contains any of them. A callable `f(variable) -> bool`: excluded
        exactly when it returns True (it replaces the whole rule).
      nesterov: Nesterov momentum.
      clip_lr: adapted variables step at `min(trust, lr)` instead of `lr * trust`
        (solo-learn / apex LARC clipping; `trust` is eta ||w|| / ||d||).
      excluded_learning_rate_factor: excluded variables step at this factor times
        the learning rate (1: the same rate).
      **kwargs: base `keras.optimizers.Optimizer` arguments (name, clipnorm, ...).
    """

    def __init__(self, learning_rate=0.1, momentum=0.9, weight_decay=1e-6, eta=0.001,
                 exclude_from_adaptation=None, nesterov=False, clip_lr=False, excluded_learning_rate_factor=1.0,
                 name="lars", **kwargs):
        # The base class' decoupled decay stays off: LARS couples decay into d above.
        super().__init__(learning_rate=learning_rate, weight_decay=None, name=name, **kwargs)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"`momentum` must be in [0, 1); received momentum={momentum!r}")
        if weight_decay is None or weight_decay < 0:
            raise ValueError(f"`weight_decay` must be >= 0; received weight_decay={weight_decay!r}")
        if eta <= 0:
            raise ValueError(f"`eta` must be > 0; received eta={eta!r}")
        if isinstance(exclude_from_adaptation, str):
            exclude_from_adaptation = (exclude_from_adaptation,)
        if not (exclude_from_adaptation is None or callable(exclude_from_adaptation)
                or all(isinstance(p, str) for p in exclude_from_adaptation)):
            raise ValueError(
                "`exclude_from_adaptation` must be None, a sequence of name patterns or a "
                f"callable; received {exclude_from_adaptation!r}")
        self.momentum = float(momentum)
        self.lars_weight_decay = float(weight_decay)
        self.eta = float(eta)
        self.exclude_from_adaptation = exclude_from_adaptation
        self.nesterov = bool(nesterov)
        if not excluded_learning_rate_factor >= 0:
            raise ValueError("`excluded_learning_rate_factor` must be >= 0; received "
                             f"excluded_learning_rate_factor={excluded_learning_rate_factor!r}")
        self.clip_lr = bool(clip_lr)
        self.excluded_learning_rate_factor = float(excluded_learning_rate_factor)

    def is_excluded(self, variable):
        """True if `variable` (a Keras Variable) skips weight decay and trust ratio."""
        rule = self.exclude_from_adaptation
        if callable(rule):
            return bool(rule(variable))
        patterns = DEFAULT_EXCLUDE_PATTERNS if rule is None else tuple(rule)
        path = getattr(variable, "path", variable.name)
        return len(variable.shape) <= 1 or any(p in path for p in patterns)

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.velocities = self.add_optimizer_variables(variables, "velocity")
        # Decided once here, on the Keras variables (update_step may see raw tf.Variables).
        self._excluded = [self.is_excluded(v) for v in variables]

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        index = self._get_variable_index(variable)
        velocity = self.velocities[index]
        momentum = ops.cast(self.momentum, dtype)
        if self._excluded[index]:
            scaled_lr = lr * ops.cast(self.excluded_learning_rate_factor, dtype)
        else:
            gradient = gradient + ops.cast(self.lars_weight_decay, dtype) * variable
            w_norm = ops.sqrt(ops.sum(ops.square(variable)))
            d_norm = ops.sqrt(ops.sum(ops.square(gradient)))
            usable = ops.logical_and(w_norm > 0, d_norm > 0)
            trust = ops.where(usable, self.eta * w_norm / ops.where(usable, d_norm, 1.0), 1.0)
            trust = ops.cast(trust, dtype)
            # clip_lr: solo-learn's lars_lr = min(trust / lr, 1), then the step lr * lars_lr * d.
            scaled_lr = ops.minimum(trust, lr) if self.clip_lr else lr * trust
        self.assign(velocity, momentum * velocity + scaled_lr * gradient)
        if self.nesterov:
            self.assign_sub(variable, momentum * velocity + scaled_lr * gradient)
        else:
            self.assign_sub(variable, velocity)

    def get_config(self):
        config = super().get_config()
        rule = self.exclude_from_adaptation
        if callable(rule):
            rule = keras.saving.serialize_keras_object(rule)
        elif rule is not None:
            rule = list(rule)
        config.update(
            momentum=self.momentum, weight_decay=self.lars_weight_decay, eta=self.eta,
            exclude_from_adaptation=rule, nesterov=self.nesterov, clip_lr=self.clip_lr,
            excluded_learning_rate_factor=self.excluded_learning_rate_factor,
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        rule = config.get("exclude_from_adaptation")
        if isinstance(rule, dict):
            config["exclude_from_adaptation"] = keras.saving.deserialize_keras_object(
                rule, custom_objects=custom_objects)
        return super().from_config(config, custom_objects=custom_objects)
