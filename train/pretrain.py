"""sslzoo-train: pre-train an encoder from a preset, evaluate it, plot it and export it.

    sslzoo-train                                   # SimCLR on the bundled digits
    sslzoo-train --preset=barlow_twins_digits --epochs=5 --model_dir=runs/bt
    sslzoo-train --preset=simclr_cifar10 --data_dir=~/tensorflow_datasets --strategy=mirrored

Writes into --model_dir: TensorBoard logs (`logs/`), a backup each epoch and
every --backup_every_steps steps (`backup/`, written atomically; rerunning the
same command after a kill, even mid-epoch, resumes from the last one with the
optimizer, schedule, input position and every variable restored: with
--deterministic the final weights equal an uninterrupted run's), the
trained objective (`model.keras`), `history.csv`, `report.json`, the plots
`loss.png`, `probe_accuracy.png`, `embedding_map.png`, and the exported
encoder (`export/saved_model`, plus any other --export_formats).
"""
import importlib
import json
import os
import time

from absl import flags, logging

FLAGS = flags.FLAGS
flags.DEFINE_string("preset", "simclr_digits", "Preset name (sslzoo.models.presets).")
flags.DEFINE_string("objective", None, "Train this registered objective (sslzoo.models.available()) on the "
                    "preset's data, backbone and schedule, with the objective's default arguments.")
flags.DEFINE_list("import_modules", [], "Python modules to import before anything else, e.g. a file of "
                  "your own objectives decorated with sslzoo.models.register (then --objective=NAME trains one).")
flags.DEFINE_bool("show", False, "Print the fully resolved recipe (optimizer, rates after batch scaling, "
                  "schedule, augmentation) as JSON and train nothing.")
flags.DEFINE_string("model_dir", None, "Output folder; default runs/<preset>.")
flags.DEFINE_integer("epochs", None, "Override the preset's epochs.")
flags.DEFINE_integer("batch_size", None, "Override the preset's global batch size.")
flags.DEFINE_float("learning_rate", None, "Override the base learning rate (before batch scaling).")
flags.DEFINE_string("dataset", None, "Override the dataset: digits or a tensorflow-datasets name.")
flags.DEFINE_string("data_dir", None, "tensorflow-datasets data_dir (no download happens).")
flags.DEFINE_string("override", None, 'JSON object of preset fields to replace, e.g. '
                    '\'{"backbone": {"name": "small_cnn", "widths": [16, 32]}}\'.')
flags.DEFINE_integer("max_examples", None, "Use at most this many examples per split.")
flags.DEFINE_string("strategy", "auto", "auto, default, mirrored, multi_worker or tpu.")
flags.DEFINE_enum("precision", "float32", ["float32", "mixed_bfloat16", "mixed_float16"], "Compute precision.")
flags.DEFINE_bool("jit_compile", False, "Compile the train step with XLA (one device).")
flags.DEFINE_integer("probe_every", 1, "Online linear probe every N epochs (0: never).")
flags.DEFINE_list("export_formats", ["saved_model"], "Export formats: saved_model, hub, tflite.")
flags.DEFINE_integer("seed", 0, "Random seed for weights, shuffling and augmentation.")
flags.DEFINE_bool("deterministic", False, "Reproducible to the bit: op determinism "
                  "(tf.config.experimental.enable_op_determinism) on top of the seeded data order and "
                  "augmentation, so a run resumed after a kill ends with the weights of an uninterrupted one.")
flags.DEFINE_integer("backup_every_steps", None, "Also back up every N training steps (default: each epoch "
                     "only). Backups (model_dir/backup) hold the whole training state and the input position; "
                     "rerunning the same command resumes from the last one, mid-epoch included.", lower_bound=1)
flags.DEFINE_bool("evaluate", True, "After training, evaluate, plot, export and write report.json "
                  "(--noevaluate: stop after saving model.keras).")
flags.DEFINE_integer("verbose", 1, "Keras fit verbosity (1: progress bar).")

TASKS = {"image": "sslzoo.train.image_task", "clip": "sslzoo.train.clip_task", "mmv": "sslzoo.train.mmv_task"}


def import_user_modules(names):
    """Imports each module of --import_modules (objectives, backbones or presets written outside
    sslzoo register themselves on import); an unimportable one is a one-line flag error."""
    from sslzoo.train import cli

    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as error:
            raise cli.FlagValueError("import_modules", name, reason=f"cannot import it ({error}); name a module on "
                                     "PYTHONPATH, e.g. my_objectives for ./my_objectives.py") from None


def check_flags():
    """One-line errors (exit 2) for flag values outside their choices, before any work."""
    from sslzoo import distribute, models
    from sslzoo.models import presets
    from sslzoo.train import cli

    import_user_modules(FLAGS.import_modules)
    cli.check_choice("preset", FLAGS.preset, presets.names())
    cli.check_choice("strategy", FLAGS.strategy, distribute.STRATEGY_SPECS)
    if FLAGS.objective is not None:
        cli.check_choice("objective", FLAGS.objective, models.available())
    if FLAGS.dataset is not None and FLAGS.dataset != "digits":
        import tensorflow_datasets as tfds

        cli.check_choice("dataset", FLAGS.dataset, ["digits"] + sorted(tfds.list_builders()))


def with_objective(recipe, name):
    """`recipe` training the registered objective `name` with its default arguments."""
    from sslzoo import models

    cls = models.get(name)
    augment = recipe.augment
    if augment is not None:
        base = {"recipe": augment["recipe"]} if "recipe" in augment else {}
        if cls.default_augment == "multicrop" and augment["kind"] != "multicrop":
            augment = {"kind": "multicrop", **base, "num_local": 2}
        elif cls.default_augment == "two_views" and augment["kind"] != "simclr":
            augment = {"kind": "simclr", **base}
    return recipe.replace(objective=name, objective_args={}, augment=augment)


def resolved_recipe(recipe, global_batch=None):
    """The recipe as JSON data with everything derived spelled out: the optimizer's defaults, the
    rate after batch scaling, the schedule in steps' terms, the augmentation's every argument.

    `Recipe.from_json` reads it back (the derived values are recomputed, not read).
    """
    from sslzoo import optimizers
    from sslzoo.models import factory

    global_batch = global_batch or int(recipe.batch_size)
    resolved = recipe.to_dict()
    optimizer = recipe.optimizer
    accepted = optimizer.accepted_arguments(optimizer.name)
    fields = set(optimizer.arguments()) | (set(type(optimizer)._field_names()) - {"name", "clipnorm"})
    defaults = {k: v for k, v in optimizers.defaults(optimizer.name).items()
                if k in accepted and k in fields and v is not None}
    resolved["optimizer"] = {**defaults, **optimizer.to_dict(), "global_batch": global_batch,
                             "peak_learning_rate": factory.learning_rate(recipe, global_batch)}
    resolved["schedule"] = {**recipe.schedule.to_dict(), "epochs": recipe.epochs}
    if recipe.task == "image":
        kind, arguments = factory.augment_arguments(recipe)
        arguments.pop("seed")
        recipe_name = {"recipe": recipe.augment["recipe"]} if "recipe" in recipe.augment else {}
        resolved["augment"] = json.loads(json.dumps({"kind": kind, **recipe_name, **arguments}))
    return resolved


def resolve_preset():
    """The preset `--preset` names with the flags' overrides applied (`Recipe.replace`, checked)."""
    from sslzoo.models import presets
    from sslzoo.train.cli import FlagValueError

    recipe = presets.get(FLAGS.preset)
    if FLAGS.objective is not None:
        recipe = with_objective(recipe, FLAGS.objective)
    changes = {field: getattr(FLAGS, field) for field in ("epochs", "batch_size", "dataset")
               if getattr(FLAGS, field) is not None}
    if FLAGS.learning_rate is not None:
        changes["optimizer"] = recipe.optimizer.replace(base_learning_rate=FLAGS.learning_rate)
    if FLAGS.override:
        try:
            overrides = json.loads(FLAGS.override)
        except json.JSONDecodeError as error:
            raise FlagValueError("override", FLAGS.override, reason=f"not JSON ({error})") from None
        if not isinstance(overrides, dict):
            raise FlagValueError("override", FLAGS.override, reason="must be a JSON object of recipe fields")
        changes.update(overrides)
    try:
        return recipe.replace(**changes)
    except presets.RecipeError as error:
        raise FlagValueError("preset", FLAGS.preset, reason=f"with the flags' overrides: {error}") from None


def train_callbacks(model_dir, task_callbacks, backup_every_steps=None):
    """Backup (one folder per worker, resume checked across workers), the task's
    callbacks, and on the chief TensorBoard, the CSV history and throughput.

    The backup checkpoints the input iterator ("checkpoint"): `main` feeds `fit`
    the task's endless passes, so one iterator serves the whole run."""
    import keras

    from sslzoo import distribute
    from sslzoo.train.progress import Throughput

    throughput = Throughput()
    backup = distribute.ConsistentBackupAndRestore(distribute.backup_dir(os.path.join(model_dir, "backup")),
                                                   every_steps=backup_every_steps, data_position="checkpoint")
    # Order matters: the task's callbacks (the online probe) add to the epoch's logs
    # before TensorBoard and the CSV log record them, and the backup comes last, so an
    # epoch it has saved is always in the history too (a kill between the two reruns
    # that epoch, and `read_history` keeps its last row).
    if not distribute.is_chief():
        return throughput, [*task_callbacks, throughput, backup]
    return throughput, [
        *task_callbacks,
        keras.callbacks.TensorBoard(os.path.join(model_dir, "logs")),
        keras.callbacks.CSVLogger(os.path.join(model_dir, "history.csv"), append=True),
        throughput,
        backup,
    ]


def export_encoder(model, model_dir, report):
    from sslzoo import export

    exported = {}
    for fmt in FLAGS.export_formats:
        path = os.path.join(model_dir, "export", fmt)
        export.save(model, path, format=fmt, overwrite=True, report=report)
        exported[fmt] = path
    return exported


def main(argv):
    del argv
    import keras
    import tensorflow as tf

    from sslzoo import distribute, plots, precision
    from sslzoo.train.progress import read_history

    check_flags()
    preset = resolve_preset()
    if FLAGS.show:
        print(json.dumps(resolved_recipe(preset), indent=2, default=str))
        return
    model_dir = FLAGS.model_dir or os.path.join("runs", FLAGS.preset)
    os.makedirs(model_dir, exist_ok=True)
    keras.utils.set_random_seed(FLAGS.seed)
    if FLAGS.deterministic:
        tf.config.experimental.enable_op_determinism()
    precision.set_precision(FLAGS.precision)
    strategy = distribute.strategy(FLAGS.strategy)
    from sslzoo.train.task import check_task

    task = check_task(importlib.import_module(TASKS[preset["task"]]))

    built = task.build(preset, strategy, data_dir=FLAGS.data_dir, max_examples=FLAGS.max_examples,
                       seed=FLAGS.seed, jit_compile=FLAGS.jit_compile, precision=FLAGS.precision)
    model = built["model"]
    print(f"sslzoo-train: preset {preset['name']} ({preset['objective']}), "
          f"{distribute.describe(strategy, built['global_batch'])}, "
          f"peak learning rate {built['learning_rate']:.4g}, {preset['epochs']} epochs of "
          f"{built['steps_per_epoch']} steps, model_dir {model_dir}")

    throughput, callbacks = train_callbacks(model_dir, task.callbacks(built, FLAGS.probe_every),
                                            FLAGS.backup_every_steps)
    start = time.perf_counter()
    # One iterator for the whole run: a fresh one per epoch (a finite dataset) stalled
    # the first step of most epochs by ~8 s on 2 cores, a third of a digits epoch.
    # Each pass reshuffles, and drop_remainder makes a pass exactly one epoch. The
    # task's endless passes are shuffled by stateless pass seeds, so the backup's
    # checkpoint of this iterator restores the input position exactly.
    if "train_passes" in built:
        train_dataset = built["train_passes"]
    else:
        train_dataset = built["train_dataset"].repeat()
        logging.warning("the task gives no `train_passes`: a resumed run continues with other data orders")
    train_dataset = train_dataset.prefetch(tf.data.AUTOTUNE)  # prefetch across passes
    model.fit(train_dataset, steps_per_epoch=built["steps_per_epoch"], epochs=preset["epochs"],
              callbacks=callbacks, verbose=FLAGS.verbose)
    train_seconds = time.perf_counter() - start
    backup = next(c for c in callbacks if isinstance(c, distribute.ConsistentBackupAndRestore))
    if backup.restored_from is not None:
        state = backup.restored_state
        print(f"sslzoo-train: resumed from {backup.restored_from} (epoch {state['epoch']}, batch "
              f"{state['batch_in_epoch']} of {built['steps_per_epoch']}, {state['batches']} steps done)")
    if not distribute.is_chief():
        return  # the chief alone saves, evaluates, plots, exports and reports
    model.save(os.path.join(model_dir, "model.keras"))
    if not FLAGS.evaluate:
        return

    history = read_history(os.path.join(model_dir, "history.csv"))
    report = {
        "preset": preset["name"],
        "objective": preset["objective"],
        "backbone": preset.get("backbone"),
        "dataset": preset["dataset"],
        "epochs": preset["epochs"],
        "global_batch": built["global_batch"],
        "replicas": strategy.num_replicas_in_sync,
        "train_seconds": round(train_seconds, 2),
        "images_per_second": round(throughput.images_per_second(built["global_batch"]), 2),
        "final_loss": history["loss"][-1] if history.get("loss") else None,
        "preset_config": preset.to_dict(),
    }
    report.update(task.evaluate(model, built, model_dir))
    plots.plot_loss(history, os.path.join(model_dir, "loss.png"))
    if any(key.startswith("probe") for key in history):
        plots.plot_probe_accuracy(history, os.path.join(model_dir, "probe_accuracy.png"))
    if any(key in history for key in plots.COLLAPSE_KEYS):
        plots.plot_collapse(history, os.path.join(model_dir, "collapse.png"))
    report["exports"] = export_encoder(model, model_dir, report)
    with open(os.path.join(model_dir, "report.json"), "w") as f:
        json.dump(report, f, indent=2, default=str)
    summary = {k: v for k, v in report.items()
               if k.endswith(("top1", "R@1")) or k in ("train_seconds", "images_per_second")}
    print("sslzoo-train: " + json.dumps(summary))
    logging.info("report written to %s", os.path.join(model_dir, "report.json"))


def run():
    """Console-script entry point (`sslzoo-train`)."""
    from sslzoo.train import cli

    cli.run_program(main, __name__, "sslzoo-train")


if __name__ == "__main__":
    run()
