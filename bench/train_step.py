#!/usr/bin/env python3
"""Images/s of each objective's train step, with and without XLA.

ResNet-18 with the CIFAR stem at 32x32, global batch 128, random images in
memory (no augmentation: the step alone), SGD with momentum. Each objective is
timed as `model.fit` over a repeated in-memory batch: `--warmup` steps (tracing
and, with XLA, compilation) and then `--steps` timed steps. Images/s counts
both global views (SwAV also computes 2 local 16x16 crops), as `../shared/bench/peer_torch.py step` does, whose SimCLR step
(torchvision ResNet-18, Linear 2048 + BN + ReLU + Linear 128, NT-Xent 0.1) the
SimCLR configuration here matches. One JSON line per objective and mode.

    python bench/train_step.py --objectives simclr --jit both
    python bench/train_step.py --objectives simclr,moco_v2,moco_v3,barlow_twins,swav
    python bench/train_step.py --objectives simclr --jit off --precision mixed_bfloat16
"""
import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from sslzoo import backbones, heads, models, precision  # noqa: E402

OBJECTIVES = ("simclr", "moco_v2", "moco_v3", "barlow_twins", "swav")


def head(output_dim=128, **kwargs):
    return heads.ProjectionHead(hidden_dims=(2048,), output_dim=output_dim, **kwargs)


def build(name, size):
    """The objective `name` on a ResNet-18 CIFAR-stem encoder for size x size images."""
    # SwAV runs its smaller local crops through backbones.any_size(encoder).
    encoder = backbones.resnet18(input_shape=(size, size, 3), stem="cifar")
    if name == "simclr":
        return models.SimCLR(encoder, projector=head(), temperature=0.1)
    if name == "moco_v2":
        return models.MoCoV2(encoder, projector=head(use_bn=False), queue_size=4096)
    if name == "moco_v3":
        predictor = heads.PredictionHead(hidden_dim=2048, output_dim=128)
        return models.MoCoV3(encoder, projector=head(), predictor=predictor)
    if name == "barlow_twins":
        return models.BarlowTwins(encoder, projector=head(2048, last_bn=True, last_bn_affine=False))
    if name == "swav":
        return models.SwAV(encoder, projector=head(), num_prototypes=512)
    # Any other registered objective with its defaults.
    return models.get(name)(encoder)


def random_batch(name, batch, size):
    """Two random views (batch, size, size, 3); SwAV gets 2 more local crops at size / 2."""
    rng = np.random.default_rng(0)
    sizes = (size, size) + ((size // 2, size // 2) if name == "swav" else ())
    views = tuple(rng.random((batch, s, s, 3), dtype=np.float32) for s in sizes)
    return tf.data.Dataset.from_tensors(views).repeat()


class StepClock(keras.callbacks.Callback):
    """Wall time from the start of batch `first` to the end of the last batch."""

    def __init__(self, first):
        super().__init__()
        self.first = first
        self.start = self.end = None

    def on_train_batch_begin(self, batch, logs=None):
        if batch == self.first:
            self.start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.end = time.perf_counter()


def time_steps(name, batch, size, jit_compile, warmup, steps, dtype_policy="float32"):
    """Returns mean seconds per train step of objective `name` (global batch `batch`).

    One `fit` runs `warmup + steps` steps; the clock covers the last `steps`
    (a fresh `fit` call pays its own start-up on its first step).
    """
    keras.utils.set_random_seed(0)
    with precision.using_precision(dtype_policy):
        model = build(name, size)
    optimizer = precision.loss_scaled(keras.optimizers.SGD(0.1, momentum=0.9), dtype_policy)
    model.compile(optimizer=optimizer, jit_compile=jit_compile)
    clock = StepClock(first=warmup)
    model.fit(random_batch(name, batch, size), epochs=1, steps_per_epoch=warmup + steps, verbose=0,
              shuffle=False, callbacks=[clock])
    return (clock.end - clock.start) / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--objectives", default="simclr", help=f"comma-separated, from {OBJECTIVES}")
    parser.add_argument("--jit", default="both", choices=["both", "on", "off"])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--precision", default="float32", choices=precision.PRECISIONS)
    args = parser.parse_args()
    modes = {"both": (False, True), "on": (True,), "off": (False,)}[args.jit]
    for name in args.objectives.split(","):
        for jit_compile in modes:
            step_s = time_steps(name, args.batch, args.size, jit_compile, args.warmup, args.steps, args.precision)
            print(json.dumps({"what": "train_step", "objective": name, "jit_compile": jit_compile,
                              "precision": args.precision, "batch": args.batch, "size": args.size, "step_s": round(step_s, 4),
                              "images_per_s": round(2 * args.batch / step_s, 1),
                              "load": os.getloadavg()[0], "tf": tf.__version__}), flush=True)


if __name__ == "__main__":
    main()
