"""sslzoo-train: pre-train an encoder from a preset, evaluate it, plot it and export it.

    sslzoo-train                                   # SimCLR on the bundled digits
    sslzoo-train --preset=barlow_twins_digits --epochs=5 --model_dir=runs/bt
    sslzoo-train --preset=simclr_cifar10 --data_dir=~/tensorflow_datasets --strategy=mirrored

Writes into --model_dir: TensorBoard logs (`logs/`), a backup each epoch
(`backup/`, so rerunning the same command resumes after an interruption), the
trained objective (`model.keras`), `history.csv`, `report.json`, the plots
`loss.png`, `probe_accuracy.png`, `embedding_map.png`, and the exported
encoder (`export/saved_model`, plus any other --export_formats).
"""
import importlib
import json
import os
import time

from absl import app, flags, logging

FLAGS = flags.FLAGS
flags.DEFINE_string("preset", "simclr_digits", "Preset name (sslzoo.models.presets).")
flags.DEFINE_string("objective", None, "Train this registered objective (sslzoo.models.available()) on the "
                    "preset's data, backbone and schedule, with the objective's default arguments.")
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
flags.DEFINE_integer("verbose", 1, "Keras fit verbosity (1: progress bar).")

TASKS = {"image": "sslzoo.train.image_task", "clip": "sslzoo.train.clip_task", "mmv": "sslzoo.train.mmv_task"}


def check_flags():
    """One-line errors (exit 2) for flag values outside their choices, before any work."""
    from sslzoo import distribute, models
    from sslzoo.models import presets
    from sslzoo.train import cli

    cli.check_choice("preset", FLAGS.preset, presets.names())
    cli.check_choice("strategy", FLAGS.strategy, distribute.STRATEGY_SPECS)
    if FLAGS.objective is not None:
        cli.check_choice("objective", FLAGS.objective, models.available())
    if FLAGS.dataset is not None and FLAGS.dataset != "digits":
        import tensorflow_datasets as tfds

        cli.check_choice("dataset", FLAGS.dataset, ["digits"] + sorted(tfds.list_builders()))


def with_objective(preset, name):
    """`preset` training the registered objective `name` with its default arguments."""
    from sslzoo import models

    cls = models.get(name)
    preset["objective"], preset["objective_args"] = name, {}
    if cls.default_augment == "multicrop" and preset["augment"]["kind"] != "multicrop":
        preset["augment"] = {"kind": "multicrop", "recipe": preset["augment"]["recipe"], "num_local": 2}
    elif cls.default_augment == "two_views" and preset["augment"]["kind"] != "simclr":
        preset["augment"] = {"kind": "simclr", "recipe": preset["augment"]["recipe"]}
    return preset


def resolved_recipe(preset, global_batch=None):
    """The preset with everything derived spelled out: rates after batch scaling, optimizer defaults."""
    from sslzoo import optimizers
    from sslzoo.models import factory

    global_batch = global_batch or int(preset["batch_size"])
    optimizer = dict(preset["optimizer"])
    resolved = dict(preset)
    resolved["optimizer"] = {**optimizers.defaults(optimizer["name"]), **optimizer,
                             "global_batch": global_batch,
                             "peak_learning_rate": factory.learning_rate(preset, global_batch)}
    resolved["schedule"] = {"kind": "linear warmup + cosine", "warmup_epochs": 0,
                            **preset.get("schedule", {}), "epochs": preset["epochs"]}
    if preset.get("task", "image") == "image":
        kind, arguments = factory.augment_arguments(preset)
        arguments.pop("seed")
        resolved["augment"] = {"kind": kind, **arguments}
    return resolved


def resolve_preset():
    from sslzoo.models import presets

    preset = presets.get(FLAGS.preset)
    if FLAGS.objective is not None:
        preset = with_objective(preset, FLAGS.objective)
    for field in ("epochs", "batch_size", "dataset"):
        value = getattr(FLAGS, field)
        if value is not None:
            preset[field] = value
    if FLAGS.learning_rate is not None:
        preset["optimizer"]["base_learning_rate"] = FLAGS.learning_rate
    if FLAGS.override:
        try:
            overrides = json.loads(FLAGS.override)
        except json.JSONDecodeError as error:
            raise app.UsageError(f"--override must be a JSON object: {error}") from None
        preset = presets.get(preset["name"], **{**{k: v for k, v in preset.items() if k != "name"}, **overrides})
    return preset


def train_callbacks(model_dir, task_callbacks):
    """Backup (one folder per worker, resume checked across workers), the task's
    callbacks, and on the chief TensorBoard, the CSV history and throughput."""
    import keras

    from sslzoo import distribute
    from sslzoo.train.progress import Throughput

    throughput = Throughput()
    backup = distribute.ConsistentBackupAndRestore(distribute.backup_dir(os.path.join(model_dir, "backup")))
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

    throughput, callbacks = train_callbacks(model_dir, task.callbacks(built, FLAGS.probe_every))
    start = time.perf_counter()
    # One iterator for the whole run: a fresh one per epoch (a finite dataset) stalled
    # the first step of most epochs by ~8 s on 2 cores, a third of a digits epoch.
    # Each pass reshuffles, and drop_remainder makes a pass exactly one epoch.
    train_dataset = built["train_dataset"].repeat().prefetch(tf.data.AUTOTUNE)  # prefetch across passes
    model.fit(train_dataset, steps_per_epoch=built["steps_per_epoch"], epochs=preset["epochs"],
              callbacks=callbacks, verbose=FLAGS.verbose)
    train_seconds = time.perf_counter() - start
    if not distribute.is_chief():
        return  # the chief alone saves, evaluates, plots, exports and reports
    model.save(os.path.join(model_dir, "model.keras"))

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
        "preset_config": preset,
    }
    report.update(task.evaluate(model, built, model_dir))
    plots.plot_loss(history, os.path.join(model_dir, "loss.png"))
    if any(key.startswith("probe") for key in history):
        plots.plot_probe_accuracy(history, os.path.join(model_dir, "probe_accuracy.png"))
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
