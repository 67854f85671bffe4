"""Baselines for the digits presets, on the same 4,000 / 1,000 split.

    python bench/digits_baselines.py [--presets simclr_digits,...] [--runs runs]

Prints, as JSON lines: logistic regression and kNN on raw pixels, the linear
probe and kNN of each preset's encoder randomly initialised, and (where
`<runs>/<preset>/report.json` exists) the pre-trained encoder's numbers, so the
table in docs/RESULTS.md is one command.
"""
import argparse
import json
import os

import numpy as np


def raw_pixel_baselines(train, test):
    """The linear probe (same protocol as for encoders) and kNN on raw pixels in [0, 1]."""
    from sslzoo import evaluation

    flat = lambda x: x.reshape(len(x), -1).astype(np.float32) / 255.0  # noqa: E731
    linear = evaluation.linear_probe(None, flat(train[0]), train[1], flat(test[0]), test[1])
    knn = evaluation.knn(None, flat(train[0]), train[1], flat(test[0]), test[1])
    return {"raw_pixels_linear_probe_top1": linear["top1"], "raw_pixels_linear_probe_l2": linear["l2"],
            "raw_pixels_knn_top1": knn["top1"]}


def random_encoder_baseline(preset_name, train, test):
    import keras

    from sslzoo import evaluation
    from sslzoo.models import factory, presets

    keras.utils.set_random_seed(0)
    encoder = factory.build_encoder(presets.get(preset_name))
    train_features = evaluation.extract_features(encoder, train[0])
    test_features = evaluation.extract_features(encoder, test[0])
    linear = evaluation.linear_probe(None, train_features, train[1], test_features, test[1])
    knn = evaluation.knn(None, train_features, train[1], test_features, test[1])
    return {"random_init_linear_probe_top1": linear["top1"], "random_init_knn_top1": knn["top1"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", default="simclr_digits,moco_v2_digits,barlow_twins_digits,swav_digits")
    parser.add_argument("--runs", default="runs")
    args = parser.parse_args()

    from sslzoo import data

    train, test = data.digits("train"), data.digits("test")
    print(json.dumps({"baseline": "raw_pixels", **raw_pixel_baselines(train, test)}), flush=True)
    for name in args.presets.split(","):
        row = {"preset": name, **random_encoder_baseline(name, train, test)}
        report_path = os.path.join(args.runs, name, "report.json")
        if os.path.exists(report_path):
            with open(report_path) as f:
                report = json.load(f)
            row.update({k: report.get(k) for k in ("linear_probe_top1", "knn_top1", "train_seconds", "epochs")})
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
