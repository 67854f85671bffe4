"""The base class every sslzoo objective derives from.

An objective is a `keras.Model` trained by plain `model.fit`. It holds an
encoder (images -> representation h, exposed as `model.encoder`), builds every
sub-layer eagerly in its constructor, and implements one method:

    compute_objective(data, training) -> {"loss": scalar, <metric>: scalar, ...}

`SSLModel` owns everything cross-cutting:

- the train step: forward under a `tf.GradientTape`, the loss divided by the
  number of replicas before the gradient (the optimizer sums gradients over
  replicas; see `sslzoo.replica` for the loss convention), loss scaling for
  mixed float16, `optimizer.apply`, then the objective's `after_train_step`
  hook (momentum encoders, queues, prototype normalisation);
- metric trackers: one `keras.metrics.Mean` per name in `metric_names`;
- a clear error for a non-finite loss (`raise_on_nan`): in the step, or under
  `jit_compile` (XLA drops CheckNumerics) on the host after the step, whose
  non-finite gradient is then zeroed;
- `tf.distribute` quirks of Keras 3's `fit`: the symbolic build under
  MultiWorkerMirroredStrategy (keras issue 20585) and rank-1 logs there
  (tensorflow issue 72388);
- `get_config` / `from_config` of the encoder, so `.keras` files round-trip.
"""
import keras
import numpy as np
import tensorflow as tf

from sslzoo import replica


def serialize(obj):
    return None if obj is None else keras.saving.serialize_keras_object(obj)


def deserialize(config):
    return None if config is None else keras.saving.deserialize_keras_object(config)


class SSLModel(keras.Model):
    """Base for self-supervised objectives.

    Args:
      encoder: `keras.Model`, inputs -> representation h of shape (B, F).
      raise_on_nan: if True, the train step fails with a clear error as soon as
        the loss is NaN or infinite, before the optimizer applies the step.
      **kwargs: passed to `keras.Model` (e.g. `name`).

    Subclasses set `metric_names` (the first must be "loss"), build every
    sub-layer in `__init__` and end it with `self.built = True`, implement
    `compute_objective`, may override `after_train_step`, and list their own
    constructor arguments in `get_config` (layers through `serialize`).
    """

    metric_names = ("loss",)
    # Sub-layers passed to the constructor that `from_config` must deserialize.
    serialized_layers = ("encoder",)

    def __init__(self, encoder, raise_on_nan=True, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(encoder, keras.Model):
            raise ValueError(f"`encoder` must be a keras.Model, got {type(encoder).__name__}")
        self.encoder = encoder
        self.raise_on_nan = bool(raise_on_nan)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.metric_names}

    # ----------------------------------------------------------------- shapes
    @property
    def representation_dim(self):
        """F, the width of the encoder's output h."""
        shape = self.encoder.output_shape
        if len(shape) != 2:
            raise ValueError(f"`encoder` output must be (batch, features), got shape {shape}")
        return int(shape[-1])

    # ---------------------------------------------------------------- forward
    def call(self, inputs, training=False):
        """Images (B, ...) -> representation h (B, F)."""
        return self.encoder(inputs, training=training)

    def compute_objective(self, data, training):
        """Loss and metrics of one batch. Returns a dict of float32 scalars with "loss"."""
        raise NotImplementedError(f"{type(self).__name__} must implement compute_objective")

    def after_train_step(self, data, results):
        """Updates non-trainable state after the optimizer step (default: nothing)."""

    # -------------------------------------------------------------- the steps
    @property
    def metrics(self):
        return list(self.trackers.values())

    def train_step(self, data):
        with tf.GradientTape() as tape:
            results = self.compute_objective(data, training=True)
            loss = self._checked_loss(results["loss"])
            scaled_loss = self.optimizer.scale_loss(loss / replica.num_replicas())
        variables = self.trainable_variables
        gradients = tape.gradient(scaled_loss, variables)
        if self._checks_loss_on_host():
            # XLA drops CheckNumerics: keep a non-finite gradient out of the weights
            # here; `make_train_function` raises on the host after the step.
            finite = tf.math.is_finite(loss)
            gradients = [None if g is None else tf.where(finite, g, tf.zeros_like(g)) for g in gradients]
        elif self.raise_on_nan:
            # The backward pass does not depend on the forward check: make the
            # update wait for it, so a failed check applies nothing.
            with tf.control_dependencies([loss]):
                gradients = [None if g is None else tf.identity(g) for g in gradients]
        self.optimizer.apply(gradients, variables)
        self.after_train_step(data, results)
        return self._update_trackers(results)

    def test_step(self, data):
        results = self.compute_objective(data, training=False)
        return self._update_trackers(results)

    def _nan_message(self):
        return (
            f"{type(self).__name__}: the loss is NaN or infinite. Lower the learning rate, "
            "raise the temperature, check the inputs for NaN, or use float32 precision."
        )

    def _checks_loss_on_host(self):
        """True when the NaN check cannot run in the step: it is compiled with XLA."""
        return self.raise_on_nan and bool(getattr(self, "jit_compile", False))

    def _checked_loss(self, loss):
        loss = tf.convert_to_tensor(loss)
        if loss.dtype != tf.float64:  # float64 stays (split-exactness proofs); the rest is float32
            loss = tf.cast(loss, tf.float32)
        if not self.raise_on_nan or self._checks_loss_on_host():
            return loss
        return tf.debugging.assert_all_finite(loss, self._nan_message())

    def make_train_function(self, force=False):
        """Keras' train function; under `jit_compile` wrapped to check the loss on the host."""
        if self.train_function is not None and not force:
            return self.train_function
        super().make_train_function(force=force)
        if self._checks_loss_on_host():
            compiled = self.train_function

            def train_function_checking_loss(iterator):
                logs = compiled(iterator)
                if not np.all(np.isfinite(np.asarray(logs["loss"]))):
                    raise tf.errors.InvalidArgumentError(None, None, self._nan_message())
                return logs

            self.train_function = train_function_checking_loss
        return self.train_function

    def _update_trackers(self, results):
        for name, tracker in self.trackers.items():
            tracker.update_state(results[name])
        logs = {name: tracker.result() for name, tracker in self.trackers.items()}
        if _is_multi_worker(self.distribute_strategy):
            # Keras reduces logs with `strategy.reduce(..., axis=0)` (tf issue 72388).
            logs = {name: tf.reshape(value, [1]) for name, value in logs.items()}
        return logs

    # -------------------------------------------- Keras 3 + tf.distribute fix
    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        """Builds the optimizer in scope without reducing a distributed batch.

        Keras' own version calls `strategy.reduce` on the PerReplica data batch,
        which fails under MultiWorkerMirroredStrategy. Objectives build their
        layers in `__init__`, so only the optimizer remains to be built.
        """
        if self._distribute_strategy is None:
            return
        unbuilt = [layer.name for layer in self._flatten_layers() if not layer.built]
        if unbuilt:
            raise ValueError(
                f"{type(self).__name__} has unbuilt layers {unbuilt[:5]}: objectives must build "
                "every sub-layer in their constructor."
            )
        with self.distribute_strategy.scope():
            if self.optimizer is not None and not self.optimizer.built:
                self.optimizer.build(self.trainable_variables)

    # ------------------------------------------------------------ saving
    def get_config(self):
        return {
            "name": self.name,
            "encoder": serialize(self.encoder),
            "raise_on_nan": self.raise_on_nan,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in cls.serialized_layers:
            if key in config:
                config[key] = deserialize(config[key])
        return cls(**config)


def _is_multi_worker(strategy):
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def build_layer(layer, input_shape):
    """Builds `layer` (unless already built) for inputs of `input_shape`; returns its output shape."""
    if not layer.built:
        layer.build(input_shape)
    return layer.compute_output_shape(input_shape)
