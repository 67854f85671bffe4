"""The image task of `sslzoo-train`: data, model, evaluation and plots for image objectives.

It follows the Task protocol of `sslzoo.train.task` (build / callbacks / evaluate);
`sslzoo.train.pretrain` runs whichever task the preset names.
"""
import os

import numpy as np

from sslzoo import data, evaluation, plots
from sslzoo.models import factory
from sslzoo.train import task


def load_split(preset, split, data_dir=None, max_examples=None):
    """(images uint8 (N, H, W, C), labels int64 (N,)) of the preset's dataset."""
    name = preset["dataset"]
    if name == "digits":
        images, labels = data.digits(split)
    else:
        loaded = data.load(name, split, data_dir=data_dir, max_examples=max_examples)
        images, labels = loaded.images, loaded.labels
    if max_examples:
        images, labels = images[:max_examples], labels[:max_examples]
    if len(images) == 0:
        raise ValueError(f"dataset {name!r} split {split!r} is empty")
    return images, labels


# Hyperparameters are chosen on a validation split carved from the training images
# (labels only: pre-training still sees every training image); the test split is read
# once, for the final report. 500 of the 4,000 digits (1/8), at most 10,000 elsewhere.
VALIDATION_FRACTION = 1 / 8
VALIDATION_MAX = 10000
VALIDATION_SEED = 20261203


def validation_split(images, labels, fraction=VALIDATION_FRACTION, maximum=VALIDATION_MAX, seed=VALIDATION_SEED):
    """((fit images, fit labels), (validation images, validation labels)): a fixed, seeded
    `fraction` (at most `maximum`, at least 1) of the training examples held out for choosing
    hyperparameters, the rest to fit probes on."""
    count = int(np.clip(round(len(images) * fraction), 1, maximum))
    if count >= len(images):
        raise ValueError(f"the training split ({len(images)} examples) is too small to hold out {count} "
                         "for validation")
    order = np.random.RandomState(seed).permutation(len(images))
    fit, held = order[count:], order[:count]
    return (images[fit], labels[fit]), (images[held], labels[held])


def build(preset, strategy, *, data_dir=None, max_examples=None, seed=0, jit_compile=False,
          precision="float32"):
    """Compiled objective, training dataset and the evaluation data.

    Returns:
      dict with "model", "train_dataset" (one pass), "train_passes" (endless), "steps_per_epoch", "global_batch",
      "learning_rate", "train" and "test" ((images, labels) numpy pairs), and "fit" and
      "validation" (`validation_split` of "train").
    """
    train = load_split(preset, "train", data_dir, max_examples)
    test = load_split(preset, "test", data_dir, max_examples)
    global_batch = task.global_batch_size(preset, strategy)
    if global_batch > len(train[0]):
        raise ValueError(
            f"batch_size {global_batch} is larger than the training set ({len(train[0])} images)"
        )
    steps_per_epoch = len(train[0]) // global_batch
    augment = factory.build_augment(preset, seed=seed)
    train_dataset = data.pretrain_dataset(train[0], global_batch, augment, seed=seed)
    # What sslzoo-train iterates: one pass after another, resumable to the batch.
    train_passes = data.pretrain_dataset(train[0], global_batch, augment, seed=seed, endless=True)
    total_steps = preset["epochs"] * steps_per_epoch
    model, peak = task.compile_objective(
        preset, strategy, lambda: factory.build_objective(preset, total_steps=total_steps), steps_per_epoch,
        global_batch, precision=precision, jit_compile=jit_compile)
    return {
        "model": model,
        "train_dataset": train_dataset,
        "train_passes": train_passes,
        "steps_per_epoch": steps_per_epoch,
        "global_batch": global_batch,
        "learning_rate": peak,
        "train": train,
        "test": test,
        **dict(zip(("fit", "validation"), validation_split(*train))),
    }


# The online probe fits on at most this many training images per class, and at
# least 2,000 in all (its forward passes cost ~4 s an epoch on 2 cores for all
# 5,000 digits); the final linear probe uses every training image.
PROBE_EXAMPLES_PER_CLASS = 50
PROBE_MIN_TRAIN_EXAMPLES = 2000


# The collapse monitor embeds this many fixed training images each epoch.
COLLAPSE_MONITOR_IMAGES = 512


def callbacks(built, probe_every=1):
    """Task-specific callbacks: the online linear probe (fitted on the "fit" part, scored on
    the validation split: the test split is not read during training) and the collapse
    monitor (per-dimension std and effective rank of the encoder's features, each epoch)."""
    from sslzoo.evaluation.collapse import CollapseMonitor
    from sslzoo.preprocessing import eval_images

    (fit_x, fit_y), (validation_x, validation_y) = built["fit"], built["validation"]
    size = built["model"].encoder.input_shape[1]
    monitored = eval_images(built["train"][0][:COLLAPSE_MONITOR_IMAGES], size).numpy()
    result = [CollapseMonitor(monitored)]
    if probe_every:
        result.insert(0, evaluation.OnlineLinearProbe(
            fit_x, fit_y, validation_x, validation_y, every_n_epochs=probe_every,
            max_train_examples=max(PROBE_MIN_TRAIN_EXAMPLES, PROBE_EXAMPLES_PER_CLASS * (int(np.max(fit_y)) + 1))))
    return result


def _probes(encoder, train, test):
    """Linear probe and kNN fitted on `train`, scored on `test` ((images, labels) pairs)."""
    train_features = evaluation.extract_features(encoder, train[0])
    test_features = evaluation.extract_features(encoder, test[0])
    linear = evaluation.linear_probe(None, train_features, train[1], test_features, test[1])
    neighbours = evaluation.knn(None, train_features, train[1], test_features, test[1])
    results = {"linear_probe_top1": linear["top1"], "linear_probe_l2": linear["l2"], "knn_top1": neighbours["top1"]}
    if "top5" in linear:
        results["linear_probe_top5"] = linear["top5"]
    return results, test_features


def evaluate(model, built, model_dir):
    """Linear probe and kNN on the frozen encoder, on the validation split (fitted on the rest of
    the training images) and on the test split (fitted on all of them); writes the embedding
    map PNG and, when the collapse monitor ran, `collapse.png`.

    Returns the test metrics at the top level (as before) and {"validation": ..., "test": ...}."""
    validation, _ = _probes(model.encoder, built["fit"], built["validation"])
    test, test_features = _probes(model.encoder, built["train"], built["test"])
    plots.plot_embedding_map(test_features, built["test"][1], os.path.join(model_dir, "embedding_map.png"))
    return {**test, "feature_dim": int(np.shape(test_features)[1]), "validation": validation, "test": test}
