"""The base class every sslzoo objective derives from.

An objective is a `keras.Model` trained by plain `model.fit`. It holds its
encoders by modality (`encoders={"image": ...}` or `{"video", "audio", "text"}`;
`model.encoder` is the first), builds every sub-layer eagerly in its
constructor, declares the batch it trains on (`batch_spec`), the embedding
spaces it defines beyond the encoders' features (`embedding_spaces`), and
implements one method:

    compute_objective(batch, training) -> (loss, {<metric>: scalar, <step state>: tensor})

`embed(inputs, modality, space)` is the one way evaluation, search and export
get embeddings: `space="features"` is the encoder's output h, other spaces go
through the objective's `project`.

`SSLModel` owns everything cross-cutting:

- the batch check: each batch against `batch_spec`, once, when the step is traced;
- the train step: forward under a `tf.GradientTape`, the loss divided by the
  number of replicas before the gradient (the optimizer sums gradients over
  replicas; see `sslzoo.replica` for the loss convention), loss scaling for
  mixed float16, `optimizer.apply`, then the objective's one state hook,
  `after_train_step(batch, outputs)` (momentum encoders, queues, prototypes),
  which sees every output of `compute_objective`;
- metric trackers: one `keras.metrics.Mean` per name in `metric_names`;
- the NaN guard (`raise_on_nan`): a non-finite loss, or a non-finite gradient
  (except under mixed float16's `LossScaleOptimizer`, which skips such steps and
  lowers its scale), stops training with `NonFiniteLossError` naming the step,
  its logged values and the last finite ones, before the step is applied: in the
  step, or under `jit_compile` (XLA drops Assert) on the host after the step,
  whose non-finite gradient is then zeroed;
- `tf.distribute` quirks of Keras 3's `fit`: the symbolic build under
  MultiWorkerMirroredStrategy (keras issue 20585) and rank-1 logs there
  (tensorflow issue 72388);
- `get_config` / `from_config` of the encoders, so `.keras` files round-trip.

`MomentumSSLModel` (models/momentum.py) adds an EMA teacher (frozen copies of chosen
sub-layers, moved towards the online ones after every step on a cosine momentum
schedule); the NaN guard's checks and error live in models/nan_guard.py.
"""

import keras
import tensorflow as tf

from sslzoo import keras_internals, replica
from sslzoo.models import batch_spec as batch_specs
from sslzoo.models.nan_guard import (NAN_MARKER, STEP_NUMBER, STEP_VALUES, NonFiniteLossError, _assert_data,
                                     _dense_values, _format_values, _host_vector, _is_multi_worker, _where_finite)


def serialize(obj):
    return None if obj is None else keras.saving.serialize_keras_object(obj)


def deserialize(config):
    return None if config is None else keras.saving.deserialize_keras_object(config)


class SSLModel(keras.Model):
    """Base for self-supervised objectives.

    Args:
      encoder: `keras.Model`, images -> representation h of shape (B, F); the same
        as `encoders={"image": encoder}`.
      encoders: dict modality -> `keras.Model` (inputs -> (B, F_modality)), for
        objectives over several modalities; the first is `model.encoder`.
      raise_on_nan: if True, the train step fails with `NonFiniteLossError` as soon
        as the loss (or, without loss scaling, a gradient) is NaN or infinite,
        before the optimizer applies the step.
      **kwargs: passed to `keras.Model` (e.g. `name`).

    Subclasses set `metric_names` (the first must be "loss"), `batch_spec`,
    `embedding_spaces` (modality -> names of the spaces `project` computes),
    build every sub-layer in `__init__` and end it with `self.built = True`,
    implement `compute_objective` (and `project` if they define spaces), may
    override `after_train_step`, and list their own constructor arguments in
    `get_config` (layers through `serialize`).
    """

    metric_names = ("loss",)
    # Sub-layers passed to the constructor that `from_config` must deserialize.
    serialized_layers = ("encoder",)
    # The batch `compute_objective` takes (see sslzoo.models.batch_spec); None: unchecked.
    batch_spec = None
    # The augmentation a recipe uses unless it names one: "two_views", "multicrop", "pairs",
    # "captions", "clips" (see sslzoo.models.factory).
    default_augment = "two_views"
    # Spaces beyond each encoder's "features", by modality: {"image": ("projection",)}.
    embedding_spaces = {}
    # Set by `sslzoo.models.register`.
    registered_name = None

    def __init__(self, encoder=None, encoders=None, raise_on_nan=True, **kwargs):
        super().__init__(**kwargs)
        if (encoder is None) == (encoders is None):
            raise ValueError(f"{type(self).__name__} takes either `encoder` or `encoders` (a dict modality -> "
                             f"keras.Model), got encoder={encoder!r} and encoders={encoders!r}")
        if encoders is None:
            encoders = {"image": encoder}
        if not isinstance(encoders, dict) or not encoders:
            raise ValueError(f"`encoders` must be a non-empty dict modality -> keras.Model, got {encoders!r}")
        for modality, model in encoders.items():
            if not isinstance(model, keras.Model):
                raise ValueError(f"`encoder` must be a keras.Model (modality {modality!r}), "
                                 f"got {type(model).__name__}")
        self.encoders = dict(encoders)
        self.encoder = next(iter(self.encoders.values()))
        self.raise_on_nan = bool(raise_on_nan)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in self.metric_names}

    # ----------------------------------------------------------------- shapes
    @property
    def modalities(self):
        """The encoders' modalities, e.g. ("image",) or ("video", "audio", "text")."""
        return tuple(self.encoders)

    @property
    def representation_dim(self):
        """F, the width of the (first) encoder's output h."""
        return self.feature_dim(self.modalities[0])

    def feature_dim(self, modality):
        """The width of `modality`'s encoder output."""
        shape = self.encoders[modality].output_shape
        if len(shape) != 2:
            raise ValueError(f"`encoder` for {modality!r} must output (batch, features), got shape {shape}")
        return int(shape[-1])

    # ------------------------------------------------------------- embeddings
    def spaces(self, modality):
        """Names of the embeddings `embed` gives for `modality`, "features" first."""
        self._check_modality(modality)
        return ("features",) + tuple(self.embedding_spaces.get(modality, ()))

    def embed(self, inputs, modality=None, space="features", training=False):
        """Embeddings of `inputs` of `modality` in `space` (see `spaces`): (B, D).

        Args:
          inputs: the modality's model-ready batch (images (B, S, S, 3) float in [0, 1],
            token ids (B, L), video (B, T, H, W, 3), waveforms (B, samples)).
          modality: one of `modalities` (default: the first).
          space: "features" (the encoder's output h) or one of the objective's spaces.
        """
        modality = modality or self.modalities[0]
        if space not in self.spaces(modality):
            raise ValueError(f"`space` for {modality!r} must be one of {self.spaces(modality)}, got {space!r}")
        features = self.encoders[modality](inputs, training=training)
        return features if space == "features" else self.project(features, modality, space, training)

    def project(self, features, modality, space, training=False):
        """Features (B, F) of `modality` -> embeddings (B, D) in `space`.

        The default serves the "projection" space of objectives with a `projector`
        head (z = g(h)); objectives with other spaces override it.
        """
        if space == "projection" and getattr(self, "projector", None) is not None:
            return self.projector(features, training=training)
        raise NotImplementedError(f"{type(self).__name__} defines no space {space!r} for {modality!r}")

    def _check_modality(self, modality):
        if modality not in self.encoders:
            raise ValueError(f"`modality` must be one of {self.modalities}, got {modality!r}")

    # ---------------------------------------------------------------- forward
    def call(self, inputs, training=False):
        """Inputs of the first modality (B, ...) -> representation h (B, F)."""
        return self.encoder(inputs, training=training)

    def compute_objective(self, batch, training):
        """Loss and outputs of one batch.

        Returns:
          (loss, outputs): the scalar loss (float32, or float64 for float64 models)
          and a dict with a scalar for every other name in `metric_names`, plus any
          tensors the state hook needs (they are not logged).
        """
        raise NotImplementedError(f"{type(self).__name__} must implement compute_objective")

    def after_train_step(self, batch, outputs):
        """Updates non-trainable state after the optimizer step (default: nothing)."""

    def check_batch(self, batch):
        """Raises ValueError naming the objective unless `batch` matches `batch_spec`."""
        batch_specs.check_batch(type(self).__name__, self.batch_spec, batch)

    # -------------------------------------------------------------- the steps
    @property
    def metrics(self):
        return list(self.trackers.values())

    def train_step(self, data):
        self.check_batch(data)
        with tf.GradientTape() as tape:
            loss, outputs = self.compute_objective(data, training=True)
            loss = self._loss_dtype(loss)
            scaled_loss = self.optimizer.scale_loss(loss / replica.num_replicas())
        variables = self.trainable_variables
        gradients = tape.gradient(scaled_loss, variables)
        step_values, checks = None, []
        if self.raise_on_nan:
            # This step's 1-based number, read before `apply` increments the counter.
            step = tf.cast(self.optimizer.iterations, tf.int64) + 1
            gradients, step_values, checks = self._guard(loss, outputs, gradients, step)
        # Everything that changes state waits for the check, so a failed check changes
        # nothing but the forward pass's batch-norm statistics (the step counter included).
        with tf.control_dependencies(checks):
            self.optimizer.apply(gradients, variables)
            self.after_train_step(data, outputs)
            logs = self._update_trackers(loss, outputs)
        if step_values is not None:
            # This step's number and values, for the host: the error names the last finite
            # ones (`make_train_function` takes them out before Keras sees the logs).
            multi_worker = _is_multi_worker(self.distribute_strategy)
            logs[STEP_VALUES] = tf.reshape(step_values, [1, -1]) if multi_worker else step_values
            logs[STEP_NUMBER] = tf.reshape(step, [1]) if multi_worker else step
        return logs

    def test_step(self, data):
        self.check_batch(data)
        loss, outputs = self.compute_objective(data, training=False)
        return self._update_trackers(loss, outputs)

    # ------------------------------------------------------------ NaN guard
    def _checks_loss_on_host(self):
        """True when the NaN check cannot run in the step: it is compiled with XLA."""
        return self.raise_on_nan and bool(getattr(self, "jit_compile", False))

    def _loss_dtype(self, loss):
        loss = tf.convert_to_tensor(loss)
        if loss.dtype != tf.float64:  # float64 stays (split-exactness proofs); the rest is float32
            loss = tf.cast(loss, tf.float32)
        return loss

    def _scales_loss(self):
        """True under a `LossScaleOptimizer` (mixed float16): it skips steps with non-finite gradients itself."""
        return isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer)

    def _guard(self, loss, outputs, gradients, step):
        """Stops a step whose loss (or, without loss scaling, a gradient) is not finite.

        `step` (int64 scalar, 1-based) goes into the error.

        Returns:
          (gradients, step values, checks): the gradients (under XLA, zeroed when the
          check fails: the host raises after the step); the float32 vector
          (2 + len(metric_names),) [loss finite, gradients finite, *logged values]; the
          check ops the update must wait for ([] under XLA, which drops them).
        """
        loss_finite = tf.reduce_all(tf.math.is_finite(loss))
        if self._scales_loss():
            gradients_finite = tf.constant(True)  # the LossScaleOptimizer skips the step and lowers the scale
        else:
            gradients_finite = tf.reduce_all(tf.stack(
                [tf.constant(True)] + [tf.reduce_all(tf.math.is_finite(_dense_values(g))) for g in gradients
                                       if g is not None]))
        finite = tf.logical_and(loss_finite, gradients_finite)
        values = {**outputs, "loss": loss}
        step_values = tf.stack([tf.cast(loss_finite, tf.float32), tf.cast(gradients_finite, tf.float32)]
                               + [tf.cast(tf.reduce_mean(values[name]), tf.float32) for name in self.metric_names])
        if self._checks_loss_on_host():
            # XLA drops Assert: keep a non-finite gradient out of the weights here;
            # `make_train_function` raises on the host after the step.
            return [_where_finite(finite, g) for g in gradients], step_values, []
        check = tf.debugging.Assert(finite, [NAN_MARKER, step, step_values], summarize=len(self.metric_names) + 2)
        with tf.control_dependencies([check]):
            gradients = [None if g is None else tf.identity(g) for g in gradients]
        return gradients, step_values, [check]

    def _nan_message(self, step, values=None, last=None, last_step=None):
        """The error for a non-finite step.

        Args:
          step: the 1-based optimizer step that failed (None: unknown).
          values: this step's vector from `_guard` (None: unknown).
          last: the last finite step's vector, at `last_step` (None: no step finished yet).
        """
        name = type(self).__name__
        where = f" at step {step}" if step is not None else ""
        if values is not None and values[0] and not values[1]:
            what = f"a gradient is NaN or infinite{where} (the loss is finite)"
        else:
            what = f"the loss is NaN or infinite{where}"
        parts = [f"{name}: {what}; training stopped before applying it."]
        names = self.metric_names
        if values is not None:
            parts.append(f"Logged values at step {step}: " + _format_values(names, values[2:]) + ".")
        if last is not None:
            parts.append(f"Last finite values (step {last_step}): " + _format_values(names, last[2:]) + ".")
        else:
            parts.append("No step had finished in this run.")
        parts.append("Lower the learning rate, raise the temperature, check the inputs for NaN, "
                     "or use float32 precision.")
        return " ".join(parts)

    def make_train_function(self, force=False):
        """Keras' train function, wrapped to raise `NonFiniteLossError` with the step and the last finite values."""
        if self.train_function is not None and not force:
            return self.train_function
        super().make_train_function(force=force)
        if not self.raise_on_nan:
            return self.train_function
        compiled = self.train_function
        model = self
        # The last finite step's number and values: tensors, read only after a failure.
        last = {"step": None, "values": None}

        def raise_non_finite(step, values):
            last_step = None if last["step"] is None else int(_host_vector(last["step"])[0])
            if step is None and last_step is not None:
                step = last_step + 1
            last_values = None if last["values"] is None else _host_vector(last["values"])
            raise NonFiniteLossError(None, None, model._nan_message(step, values, last_values, last_step))

        def train_function_guarded(iterator):
            try:
                logs = compiled(iterator)
            except tf.errors.InvalidArgumentError as error:
                if NAN_MARKER not in str(error.message):
                    raise
                step, values = _assert_data(str(error.message), len(model.metric_names) + 2)
                raise_non_finite(step, values)
            logs = dict(logs)
            values, step = logs.pop(STEP_VALUES), logs.pop(STEP_NUMBER)
            if model._checks_loss_on_host():  # XLA: the check runs here, after the (zeroed) step
                host = _host_vector(values)
                if not (host[0] and host[1]):
                    raise_non_finite(int(_host_vector(step)[0]), host)
            last["step"], last["values"] = step, values
            return logs

        self.train_function = train_function_guarded
        return self.train_function

    def _update_trackers(self, loss, outputs):
        values = {**outputs, "loss": loss}
        for name, tracker in self.trackers.items():
            tracker.update_state(values[name])
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
        if keras_internals.assigned_strategy(self) is None:
            return
        unbuilt = keras_internals.unbuilt_layers(self)
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
        if self.modalities == ("image",):
            encoders = {"encoder": serialize(self.encoder)}
        else:
            encoders = {"encoders": {name: serialize(model) for name, model in self.encoders.items()}}
        return {"name": self.name, **encoders, "raise_on_nan": self.raise_on_nan}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in cls.serialized_layers:
            if key in config:
                config[key] = deserialize(config[key])
        if isinstance(config.get("encoders"), dict):
            config["encoders"] = {name: deserialize(c) for name, c in config["encoders"].items()}
        return cls(**config)


def build_layer(layer, input_shape):
    """Builds `layer` (unless already built) for inputs of `input_shape`; returns its output shape."""
    if not layer.built:
        layer.build(input_shape)
    return layer.compute_output_shape(input_shape)
