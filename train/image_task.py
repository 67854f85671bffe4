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


def build(preset, strategy, *, data_dir=None, max_examples=None, seed=0, jit_compile=False,
          precision="float32"):
    """Compiled objective, training dataset and the evaluation data.

    Returns:
      dict with "model", "train_dataset" (one pass), "train_passes" (endless), "steps_per_epoch", "global_batch",
      "learning_rate", "train" and "test" ((images, labels) numpy pairs).
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
    }


# The online probe fits on at most this many training images per class, and at
# least 2,000 in all (its forward passes cost ~4 s an epoch on 2 cores for all
# 5,000 digits); the final linear probe uses every training image.
PROBE_EXAMPLES_PER_CLASS = 50
PROBE_MIN_TRAIN_EXAMPLES = 2000


def callbacks(built, probe_every=1):
    """Task-specific callbacks: the online linear probe on the frozen encoder."""
    if not probe_every:
        return []
    (train_x, train_y), (test_x, test_y) = built["train"], built["test"]
    return [evaluation.OnlineLinearProbe(train_x, train_y, test_x, test_y, every_n_epochs=probe_every,
                                         max_train_examples=max(PROBE_MIN_TRAIN_EXAMPLES,
                                                                PROBE_EXAMPLES_PER_CLASS * (int(np.max(train_y)) + 1)))]


def evaluate(model, built, model_dir):
    """Linear probe and kNN on the frozen encoder; writes the embedding map PNG."""
    (train_x, train_y), (test_x, test_y) = built["train"], built["test"]
    encoder = model.encoder
    train_features = evaluation.extract_features(encoder, train_x)
    test_features = evaluation.extract_features(encoder, test_x)
    linear = evaluation.linear_probe(None, train_features, train_y, test_features, test_y)
    neighbours = evaluation.knn(None, train_features, train_y, test_features, test_y)
    plots.plot_embedding_map(test_features, test_y, os.path.join(model_dir, "embedding_map.png"))
    results = {"linear_probe_top1": linear["top1"], "linear_probe_l2": linear["l2"], "knn_top1": neighbours["top1"]}
    if "top5" in linear:
        results["linear_probe_top5"] = linear["top5"]
    results["feature_dim"] = int(np.shape(train_features)[1])
    return results
