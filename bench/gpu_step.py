#!/usr/bin/env python3
"""SimCLR on one accelerator: ResNet-50 at 224x224, mixed bfloat16 and XLA.

Three timings, each after `--warmup` steps (tracing and XLA compilation):
  step            views already on the device: the train step alone;
  augment_tfdata  uint8 256x256 images through `SimCLRAugment(224)` in a tf.data
                  map on the host CPUs (parallel calls, prefetch) feeding `fit`;
  augment_device  the same uint8 batch resident on the device, augmented there by a
                  separate tf.function (not in the XLA step), then the jitted `train_step`.
It also counts the step's FLOPs from the model's convolutions and dense layers
(forward multiply-adds x 2, training = 3 x forward) and reports the fraction of
the card's dense bfloat16 peak that the step reaches. One JSON line per timing.

    python bench/gpu_step.py --mode step --batch 256
    python bench/gpu_step.py --mode step --arch resnet18 --size 64 --batch 4 --steps 1   # CPU smoke test
"""
import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from sslzoo import augment, backbones, heads, models, precision  # noqa: E402

# Dense bfloat16 tensor-core peaks (FLOP/s), by a substring of the device name.
BF16_PEAK = {"H200": 989.4e12, "H100": 989.4e12, "A100": 312e12, "L4": 121e12}


def training_flops_per_image(model):
    """3 x forward FLOPs (2 per multiply-add) of every Conv2D and Dense in `model`, per image."""
    forward = 0
    for layer in _leaf_layers(model):
        if isinstance(layer, keras.layers.Conv2D):
            kh, kw = layer.kernel_size
            _, h, w, cout = layer.output.shape
            forward += 2 * kh * kw * layer.input.shape[-1] * cout * h * w
        elif isinstance(layer, keras.layers.Dense):
            forward += 2 * int(layer.kernel.shape[0]) * int(layer.kernel.shape[1])
    return 3 * forward


def _leaf_layers(layer):
    children = getattr(layer, "_flatten_layers", None)
    return [l for l in children(include_self=False, recursive=True)] if children else []


def build(arch, size, batch):
    encoder = backbones.get(arch, input_shape=(size, size, 3), stem="imagenet" if size >= 128 else "cifar")
    model = models.SimCLR(encoder, projector=heads.ProjectionHead(hidden_dims=(2048,), output_dim=128))
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9), jit_compile=True)
    return model


def peak_flops(override_tflops):
    if override_tflops:
        return override_tflops * 1e12, "given"
    gpus = tf.config.list_physical_devices("GPU")
    name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "") if gpus else "cpu"
    for key, peak in BF16_PEAK.items():
        if key in name:
            return peak, name
    return None, name


def run(args):
    precision.set_precision(args.precision)
    model = build(args.arch, args.size, args.batch)
    rng = np.random.default_rng(0)
    source = int(args.size * 8 / 7)
    raw = rng.integers(0, 256, (args.batch, source, source, 3), dtype=np.uint8)
    simclr_augment = augment.SimCLRAugment(args.size)

    if args.mode == "step":
        views = tuple(tf.constant(rng.random((args.batch, args.size, args.size, 3), dtype=np.float32))
                      for _ in range(2))
        data = tf.data.Dataset.from_tensors(views).repeat()
        timed = lambda steps: model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
    elif args.mode == "augment_tfdata":
        data = (tf.data.Dataset.from_tensors(raw).repeat()
                .map(simclr_augment, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE))
        timed = lambda steps: model.fit(data, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
    else:
        images = tf.constant(raw)
        augment_on_device = tf.function(simclr_augment)
        model.optimizer.build(model.trainable_variables)
        train_step = tf.function(model.train_step, jit_compile=True)  # the custom-loop path

        def timed(steps):
            for _ in range(steps):
                logs = train_step(augment_on_device(images))
            return float(logs["loss"])

    timed(args.warmup)
    start = time.perf_counter()
    timed(args.steps)
    float(model.optimizer.iterations.numpy())  # waits for the device
    step_s = (time.perf_counter() - start) / args.steps
    images_per_s = 2 * args.batch / step_s
    flops = training_flops_per_image(model)
    peak, device = peak_flops(args.peak_tflops)
    print(json.dumps({
        "what": "gpu_simclr", "mode": args.mode, "arch": args.arch, "size": args.size, "batch": args.batch,
        "precision": args.precision, "jit_compile": True, "device": device, "step_s": round(step_s, 4),
        "images_per_s": round(images_per_s, 1), "train_gflop_per_image": round(flops / 1e9, 2),
        "achieved_tflops": round(images_per_s * flops / 1e12, 2),
        "fraction_of_bf16_peak": None if peak is None else round(images_per_s * flops / peak, 3),
    }), flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", default="step", choices=["step", "augment_tfdata", "augment_device"])
    parser.add_argument("--arch", default="resnet50")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--precision", default="mixed_bfloat16", choices=precision.PRECISIONS)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--peak-tflops", type=float, default=0.0, help="override the card's bf16 peak")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
