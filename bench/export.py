#!/usr/bin/env python3
"""Export sizes and TFLite vs SavedModel latency, written as section "export" of RESULTS.md.

For ResNet-18 at 32x32 (cifar stem, width 1.0) and ResNet-50 at 224x224 (imagenet
stem), randomly initialised: exports SavedModel, TF Hub module and TFLite
(float32, float16, int8 dynamic range) with `sslzoo.export.save`, measures each
folder's size, and times one image (batch 1, float32 [0, 1] input, `serving_float`)
through the SavedModel (TensorFlow pinned to 1 thread) and each TFLite variant
(LiteRT `Interpreter`, num_threads=1). Latency is the median of `--repeats` calls
after `--warmup` calls. Also reports each variant's max abs diff to the SavedModel.

    python bench/export.py --repeats 30
"""
import argparse
import datetime
import os
import platform
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from timing import folder_megabytes, median_ms  # noqa: E402  (bench/timing.py)

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)

from ai_edge_litert.interpreter import Interpreter  # noqa: E402

from sslzoo import backbones, export  # noqa: E402

MODELS = {
    "resnet18_cifar_32": lambda: backbones.resnet18(input_shape=(32, 32, 3), stem="cifar", width=1.0),
    "resnet50_imagenet_224": lambda: backbones.resnet50(input_shape=(224, 224, 3), stem="imagenet"),
}
RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md")
SECTION = "## export"


def bench_model(name, root, warmup, repeats):
    """Rows [(format, size MB, latency ms, max abs diff)] for one backbone."""
    encoder = MODELS[name]()
    size = encoder.input_shape[1]
    folders = {fmt: export.save(encoder, os.path.join(root, name, fmt), format=fmt)
               for fmt in ("saved_model", "hub", "tflite")}
    image = np.random.default_rng(0).random((1, size, size, 3), dtype=np.float32)
    serve = tf.saved_model.load(folders["saved_model"]).signatures["serving_float"]
    reference = serve(images=tf.constant(image))["embedding"].numpy()
    saved_ms = median_ms(lambda: serve(images=tf.constant(image)), warmup, repeats)
    rows = [("SavedModel", folder_megabytes(folders["saved_model"]), saved_ms, 0.0),
            ("TF Hub module", folder_megabytes(folders["hub"]), None, None)]
    for variant in export.TFLITE_VARIANTS:
        path = os.path.join(folders["tflite"], f"model_{variant}.tflite")
        runner = Interpreter(model_path=path, num_threads=1).get_signature_runner("serving_float")
        out = runner(images=image)["embedding"]
        ms = median_ms(lambda: runner(images=image), warmup, repeats)
        rows.append((f"TFLite {variant}", folder_megabytes(path), ms, float(np.abs(out - reference).max())))
    return encoder.count_params(), rows


def markdown(results, repeats):
    lines = [SECTION, "",
             f"`python bench/export.py` ({datetime.date.today()}, {platform.processor() or platform.machine()}, "
             f"tf {tf.__version__}); latency: one 1-image call, median of {repeats}, 1 thread "
             "(LiteRT num_threads=1; TensorFlow intra/inter-op 1), float32 input, random weights.", ""]
    for name, (params, rows) in results.items():
        lines += [f"**{name}** ({params / 1e6:.2f} M parameters)", "",
                  "| format | size (MB) | latency (ms/image) | max abs diff vs SavedModel |",
                  "|---|---:|---:|---:|"]
        for fmt, megabytes, ms, diff in rows:
            latency = "-" if ms is None else f"{ms:.2f}"
            delta = "-" if diff is None else f"{diff:.2e}"
            lines.append(f"| {fmt} | {megabytes:.2f} | {latency} | {delta} |")
        lines.append("")
    return "\n".join(lines)


def write_section(text, path=RESULTS):
    """Replaces the "## export" section of RESULTS.md (or appends it)."""
    old = open(path, encoding="utf-8").read() if os.path.exists(path) else "# Benchmark results\n"
    start = old.find(SECTION + "\n")
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text + "\n"
    else:
        end = old.find("\n## ", start + len(SECTION))
        new = old[:start] + text + ("\n" + old[end + 1:] if end >= 0 else "\n")
    with open(path, "w", encoding="utf-8") as f:
        f.write(new)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sslzoo_bench_export_") as root:
        results = {name: bench_model(name, root, args.warmup, args.repeats) for name in args.models}
    text = markdown(results, args.repeats)
    print(text)
    if not args.no_write:
        write_section(text)


if __name__ == "__main__":
    main()
