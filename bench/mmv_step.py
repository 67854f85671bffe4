"""MMV train-step benchmark: clips/s of the whole step and where it spends its time.

    python bench/mmv_step.py                      # the mmv_avdigits encoders, batch 64
    python bench/mmv_step.py --batch=32 --steps=10 --heads=shared

Times (median of --steps after 2 warm-up steps, one `tf.function` each):
the whole MMV step (forward, both losses, backward, Adam), and the forward +
backward of each encoder with its heads alone (video, audio, text), so the
shares add up to roughly the step. Compare with bench/mmv_peer_torch.py (same
video encoder and loss in PyTorch). Prints one JSON line.
"""
import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--heads", default="fac", choices=["fac", "shared", "disjoint"])
    parser.add_argument("--jit_compile", action="store_true")
    args = parser.parse_args()

    import copy

    import keras
    import numpy as np
    import tensorflow as tf

    from sslzoo.data.av_digits import NARRATIONS_PER_CLIP, NUM_FRAMES, CANVAS, SAMPLE_RATE
    from sslzoo.train import mmv_task

    preset = copy.deepcopy(mmv_task.MMV_AVDIGITS)
    preset["objective_args"]["heads"] = args.heads
    vocabulary = ["[PAD]", "[UNK]"] + [f"w{i}" for i in range(60)]
    model = mmv_task.build_model(preset, vocabulary)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=args.jit_compile)
    rng = np.random.default_rng(0)
    b, k, length = args.batch, NARRATIONS_PER_CLIP, preset["sequence_length"]
    batch = {
        "video": tf.constant(rng.random((b, NUM_FRAMES, CANVAS, CANVAS, 3), np.float32)),
        "audio": tf.constant(rng.normal(size=(b, int(1.6 * SAMPLE_RATE))).astype(np.float32)),
        "text": tf.constant(rng.integers(0, len(vocabulary), (b, k, length)).astype(np.int32)),
        "text_mask": tf.ones((b, k)), "audio_mask": tf.ones((b,)),
    }
    model.optimizer.build(model.trainable_variables)
    step = tf.function(model.train_step, jit_compile=args.jit_compile)

    def encoder_pass(modality, inputs):
        encoder = model.encoders[modality]
        space = model.spaces(modality)[-1]

        @tf.function(jit_compile=args.jit_compile)
        def run():
            with tf.GradientTape() as tape:
                value = tf.reduce_sum(model.embed(inputs, modality, space, training=True))
            return tape.gradient(value, encoder.trainable_variables)
        return run

    flat_text = tf.reshape(batch["text"], [b * k, length])
    parts = {"step": lambda: step(batch), "video": encoder_pass("video", batch["video"]),
             "audio": encoder_pass("audio", batch["audio"]), "text": encoder_pass("text", flat_text)}
    seconds = {}
    for name, fn in parts.items():
        for _ in range(2):
            tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, fn())
        times = []
        for _ in range(args.steps):
            start = time.perf_counter()
            tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, fn())
            times.append(time.perf_counter() - start)
        seconds[name] = statistics.median(times)
    print(json.dumps({"batch": b, "heads": args.heads, "jit_compile": args.jit_compile,
                      "step_s": round(seconds["step"], 4), "clips_per_s": round(b / seconds["step"], 1),
                      "video_fwd_bwd_s": round(seconds["video"], 4), "audio_fwd_bwd_s": round(seconds["audio"], 4),
                      "text_fwd_bwd_s": round(seconds["text"], 4), "load_average": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
