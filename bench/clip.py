"""CLIP on the captioned digits: train the `clip_digits` preset, then zero-shot and retrieval.

    python bench/clip.py                 # the preset's budget (12 epochs)
    python bench/clip.py --epochs 3

Prints the training time and the evaluation of `sslzoo.train.clip_task.evaluate`
(1,000 held-out test digits, held-out templates only) as JSON.
"""
import argparse
import json
import time

import keras

from sslzoo.models import presets
from sslzoo.train import clip_task


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=presets.get("clip_digits")["epochs"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    preset = dict(presets.get("clip_digits"), epochs=args.epochs)
    keras.utils.set_random_seed(args.seed)
    built = clip_task.build(preset, seed=args.seed)
    start = time.perf_counter()
    built["model"].fit(built["train_dataset"], epochs=preset["epochs"], verbose=2)
    train_seconds = time.perf_counter() - start
    results = clip_task.evaluate(built["model"], built)
    print(json.dumps({"epochs": preset["epochs"], "train_seconds": round(train_seconds, 1), **results}, indent=1))


if __name__ == "__main__":
    main()
