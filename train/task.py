"""The Task protocol of `sslzoo-train`, and the steps every task shares.

A task module turns a preset into a trained, evaluated objective. `sslzoo-train`
picks the module the preset's `task` names (`TASKS` in `sslzoo.train.pretrain`):

    build(preset, strategy, *, data_dir, max_examples, seed, jit_compile, precision) -> dict
        "model" (compiled), "train_dataset" (one pass of batches of the objective's batch_spec),
        "train_passes" (optional: the passes one after another, each reshuffled by a
        stateless pass seed, `sslzoo.data.pipeline.endless_passes`; sslzoo-train
        iterates it, so a backup's input position restores exactly),
        "steps_per_epoch", "global_batch", "learning_rate" (the peak rate), plus
        whatever `evaluate` needs.
    callbacks(built, probe_every) -> list of keras callbacks for `fit`.
    evaluate(model, built, model_dir) -> dict of metrics for report.json.

Image objectives (`image_task`), CLIP (`clip_task`) and MMV (`mmv_task`) differ in
their data and evaluation only; the global-batch check and compiling the
objective in the strategy's scope live here.
"""
import tensorflow as tf

from sslzoo import precision as precision_lib
from sslzoo.models import factory

TASK_FUNCTIONS = ("build", "callbacks", "evaluate")


def check_task(module):
    """Raises ValueError unless `module` has the Task protocol's functions."""
    missing = [name for name in TASK_FUNCTIONS if not callable(getattr(module, name, None))]
    if missing:
        raise ValueError(f"task module {module.__name__} lacks {missing}; a task defines {TASK_FUNCTIONS}")
    return module


def global_batch_size(preset, strategy=None):
    """The preset's global batch, checked to divide over the strategy's replicas."""
    strategy = strategy or tf.distribute.get_strategy()
    global_batch = int(preset["batch_size"])
    if global_batch < 1 or global_batch % strategy.num_replicas_in_sync:
        raise ValueError(f"batch_size {global_batch} must be positive and divide by the "
                         f"{strategy.num_replicas_in_sync} replicas")
    return global_batch


def compile_objective(preset, strategy, build_model, steps_per_epoch, global_batch, *, precision="float32",
                      jit_compile=False):
    """`build_model()` in the strategy's scope, compiled with the preset's optimizer and schedule.

    Returns:
      (model, peak learning rate after batch scaling).
    """
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        model = build_model()
        peak = factory.learning_rate(preset, global_batch)
        optimizer = factory.build_optimizer(preset, steps_per_epoch, global_batch, peak)
        model.compile(optimizer=precision_lib.loss_scaled(optimizer, precision), jit_compile=jit_compile)
    return model, peak
