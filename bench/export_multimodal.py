#!/usr/bin/env python3
"""Per-modality exports: folder sizes, latency per signature, parity with `model.embed`.

Two objectives at their CPU presets' sizes, randomly initialised:

- CLIP as `clip_digits`: small_cnn (32, 64, 128) on 28x28 RGB, Transformer text
  encoder (width 64, depth 2, 4 heads, 16 tokens, WordPiece vocabulary of ~200),
  joint space 64;
- MMV as `mmv_avdigits`: small_video_cnn (32, 64, 128) on 16 x 32 x 32 clips,
  small_audio_cnn (32, 64, 128) on 16 kHz waveforms (1.6 s), MMV text encoder
  (embedding 64, width 256, 16 words), FAC heads (va 128, vat 64).

Each is exported with `sslzoo.export.save` as "saved_model" and "hub"; the folder
sizes are reported. Then every signature of the SavedModel is timed on raw inputs
(TensorFlow pinned to `--threads` threads): median of `--repeats` calls after
`--warmup`, at batch 1 and `--batch`, beside the same computation in Keras (one
encoder pass and the objective's `project` for every space, in one `tf.function`,
on inputs already preprocessed). The max abs difference to `model.embed` (eager)
is printed too.

    python bench/export_multimodal.py --repeats 20
"""
import argparse
import os
import platform
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from timing import folder_megabytes, median_ms  # noqa: E402  (bench/timing.py)


def build_clip():
    from sslzoo import backbones, models, text
    from sslzoo.data import captions

    corpus = [t.format(n) for t in captions.TRAIN_TEMPLATES + captions.HELD_OUT_TEMPLATES
              for n in captions.DIGIT_CLASS_NAMES]
    tokenizer = text.Tokenizer(text.learn_vocabulary(corpus, 200), 16)
    image = backbones.small_cnn(input_shape=(28, 28, 3), widths=(32, 64, 128))
    words = text.TransformerTextEncoder(tokenizer.vocabulary_size, 16, width=64, depth=2, heads=4)
    return models.CLIP(image, words, tokenizer=tokenizer, embedding_dim=64), corpus


def build_mmv():
    import sslzoo.models
    from sslzoo import backbones, text
    from sslzoo.data.av_digits import CANVAS, NUM_FRAMES, SAMPLE_RATE

    mmv_class = getattr(sslzoo.models, "MMV", None)
    if mmv_class is None:
        from sslzoo.models.mmv import MMV as mmv_class
    narrations = [f"the {d} moves {w}" for d in ("zero", "one", "two", "three", "four", "five", "six", "seven",
                                                  "eight", "nine") for w in ("up", "down", "left", "right")]
    encoders = {
        "video": backbones.small_video_cnn(input_shape=(NUM_FRAMES, CANVAS, CANVAS, 3), widths=(32, 64, 128)),
        "audio": backbones.small_audio_cnn(input_shape=(None,), sample_rate=SAMPLE_RATE, widths=(32, 64, 128)),
        "text": text.MMVTextEncoder(text.learn_word_vocabulary(narrations, 200), sequence_length=16,
                                    embedding_dim=64, width=256),
    }
    model = mmv_class(encoders, heads="fac", va_dim=128, vat_dim=64)
    return model, narrations, (NUM_FRAMES, CANVAS, SAMPLE_RATE)


def raw_inputs(modality, batch, rng, clip_text, mmv_shape):
    """(raw batch for the signature, model-ready batch for model.embed)."""
    from sslzoo.preprocessing import eval_images

    if modality == "image":
        raw = rng.integers(0, 256, (batch, 28, 28, 1), dtype=np.uint8)
        return raw, eval_images(raw, 28)
    if modality == "text":
        raw = [clip_text[i % len(clip_text)] for i in range(batch)]
        return raw, None
    frames, canvas, rate = mmv_shape
    if modality == "video":
        raw = rng.uniform(size=(batch, frames, canvas, canvas, 3)).astype(np.float32)
        return raw, raw
    raw = rng.normal(0.0, 0.3, (batch, int(1.6 * rate))).astype(np.float32)
    return raw, raw


def bench(name, model, texts, mmv_shape, args, root):
    from sslzoo import export

    rows = []
    folders = {}
    for fmt in ("saved_model", "hub"):
        start = time.perf_counter()
        folders[fmt] = export.save(model, os.path.join(root, name, fmt), format=fmt)
        print(f"{name} {fmt}: {folder_megabytes(folders[fmt]):.2f} MB, written in {time.perf_counter() - start:.1f} s")
    loaded = tf.saved_model.load(folders["saved_model"])
    rng = np.random.default_rng(0)
    for modality in model.modalities:
        serve = loaded.signatures[modality]
        spaces = model.spaces(modality)
        encoder = model.encoders[modality]

        @tf.function
        def keras_all(x, m=modality, s=spaces, encoder=encoder):
            features = encoder(x, training=False)
            return [features] + [model.project(features, m, space, training=False) for space in s[1:]]

        for batch in (1, args.batch):
            raw, ready = raw_inputs(modality, batch, rng, texts, mmv_shape)
            if modality == "text":
                ready = model.tokenizer(tf.constant(raw))
            raw_tensor = tf.constant(raw)
            ready = tf.constant(ready)
            exported_ms = median_ms(lambda: serve(**{modality: raw_tensor}), args.warmup, args.repeats)
            keras_ms = median_ms(lambda: keras_all(ready), args.warmup, args.repeats)
            outputs = serve(**{modality: raw_tensor})
            diff = max(float(np.abs(outputs[s].numpy() - model.embed(ready, modality, s).numpy()).max())
                       for s in spaces)
            rows.append((name, modality, ", ".join(spaces), batch, exported_ms, keras_ms, diff))
    return rows, {fmt: folder_megabytes(path) for fmt, path in folders.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    rows, sizes = [], {}
    with tempfile.TemporaryDirectory(prefix="sslzoo_bench_export_mm_") as root:
        clip, clip_texts = build_clip()
        mmv, narrations, mmv_shape = build_mmv()
        for name, model, texts in (("clip_digits", clip, clip_texts), ("mmv_avdigits", mmv, narrations)):
            model_rows, sizes[name] = bench(name, model, texts, mmv_shape, args, root)
            rows += model_rows
    print(f"\n{platform.processor() or platform.machine()}, TensorFlow {tf.__version__}, {args.threads} thread(s), "
          f"median of {args.repeats}\n")
    print("| model | SavedModel MB | hub MB |\n|---|---|---|")
    for name, size in sizes.items():
        print(f"| {name} | {size['saved_model']:.2f} | {size['hub']:.2f} |")
    print("\n| model | signature | outputs | batch | export ms (raw input) | Keras embed ms (ready input) "
          "| max abs diff |\n|---|---|---|---|---|---|---|")
    for name, modality, spaces, batch, exported_ms, keras_ms, diff in rows:
        print(f"| {name} | {modality} | {spaces} | {batch} | {exported_ms:.2f} | {keras_ms:.2f} | {diff:.1e} |")


if __name__ == "__main__":
    main()
