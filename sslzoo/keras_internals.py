"""Every use of Keras' private API in sslzoo, in one place, with the version and the reason.

Checked against Keras 3.15 (setup.py pins keras>=3.15,<4). If a Keras release
moves one of these, this module is the one file to change; tests/test_keras_internals.py
fails first.

- `is_functional(model)`: `keras.src.models.Functional`. Keras 3 has no public
  class or flag that marks a functional (graph) model; `backbones.any_size`
  rebuilds only those, and momentum teachers clone them with `clone_model`.
- `unbuilt_layers(model)`: `Layer._flatten_layers`, the only complete walk over
  nested sub-layers (`model.layers` lists direct children only). `SSLModel`
  refuses to train with an unbuilt sub-layer under MultiWorkerMirroredStrategy.
- `assigned_strategy(model)`: `Model._distribute_strategy`, the strategy a model
  was built under, or None; the public `distribute_strategy` falls back to the
  default strategy and cannot tell "none".
- `tf_variable(variable)`: the `tf.Variable` behind a Keras variable
  (`KerasVariable._value` marks one); `strategy.extended.update` needs it.
- `exclude_from_weight_decay(optimizer, variables)` / `decays(optimizer, variable)`:
  `Optimizer._exclude_from_weight_decay(_pattern)` and `_use_weight_decay`. The
  public `exclude_from_weight_decay` replaces earlier exclusions instead of adding
  to them, and nothing public tells whether a variable is decayed; CLIP keeps its
  logit scale out of (decoupled) weight decay with these.
- `set_initial_epoch(model, epoch)`: `Model._initial_epoch`, which `fit` reads
  (over its `initial_epoch` argument) to start a resumed run; Keras' own
  `BackupAndRestore` sets it the same way. `sslzoo.backup` resumes with it.
- `SSLModel._maybe_symbolic_build` overrides a private Trainer hook (keras issue
  20585): Keras' version reduces a PerReplica batch, which fails under
  MultiWorkerMirroredStrategy. It lives in models/base.py, as it must.
"""
import keras


def is_functional(model):
    """True for a functional (graph) `keras.Model`, False for a subclassed one."""
    return isinstance(model, keras.src.models.Functional)


def unbuilt_layers(model):
    """Names of every nested sub-layer of `model` that is not built."""
    return [layer.name for layer in model._flatten_layers() if not layer.built]


def assigned_strategy(model):
    """The `tf.distribute.Strategy` `model` was created under, or None."""
    return model._distribute_strategy


def tf_variable(variable):
    """The `tf.Variable` behind a Keras 3 variable (a tf.Variable passes through)."""
    return getattr(variable, "value", variable) if hasattr(variable, "_value") else variable


def set_initial_epoch(model, epoch):
    """Makes the next `model.fit` start at `epoch` (0-based), as a restored backup requires."""
    model._initial_epoch = int(epoch)


def exclude_from_weight_decay(optimizer, variables):
    """Adds `variables` to `optimizer`'s weight-decay exclusions, keeping those set before.

    Like `Optimizer.exclude_from_weight_decay`, only before the optimizer is built.
    """
    previous = set(getattr(optimizer, "_exclude_from_weight_decay", ()))
    pattern = getattr(optimizer, "_exclude_from_weight_decay_pattern", None)
    optimizer.exclude_from_weight_decay(var_list=list(variables))
    optimizer._exclude_from_weight_decay |= previous
    optimizer._exclude_from_weight_decay_pattern = pattern


def decays(optimizer, variable):
    """True if `optimizer` applies its (decoupled) weight decay to `variable`."""
    return getattr(optimizer, "weight_decay", None) is not None and bool(optimizer._use_weight_decay(variable))
