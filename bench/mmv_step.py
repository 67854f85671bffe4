"""MMV train-step benchmark: clips/s of the whole step and where it spends its time.

    python bench/mmv_step.py                      # the mmv_avdigits encoders, batch 64
    python bench/mmv_step.py --batch=32 --steps=10 --heads=shared

    # exactly bench/mmv_peer_torch.py's computation (its AV-digits CPU command):
    python bench/mmv_step.py --loss va --video tsm --depth 18 --stem cifar --width 0.125 \\
        --batch 8 --frames 16 --size 32 --samples 16000 --sample_rate 16000 --audio small \\
        --va_dim 512 --threads 2

Times (median of --steps after 2 warm-up steps, one `tf.function` each):
the whole step, and the forward + backward of each encoder with its heads alone
(video, audio and, with `--loss mmv`, text), so the shares add up to roughly the
step.

`--loss mmv` (default) is `MMV.train_step`: video, audio and text encoders, FAC
(or shared / disjoint) heads, lambda_va NCE + lambda_vt MIL-NCE, Adam.
`--loss va` is the PyTorch peer's step (bench/mmv_peer_torch.py): the same MMV
model's video encoder -> `video_va` (Linear-BN-ReLU-Linear) and audio encoder ->
`audio_va` (Linear), `sslzoo.losses.nce(v, a, temperature)` (no mask, as the
peer), gradients of those four parts only, Keras Adam; no text branch, no
S_va -> S_vat head. `trainable_params` counts what the step trains, so it is
comparable with the peer's count.

`--video` / `--audio` pick the encoders: "preset" keeps mmv_avdigits'
(small_video_cnn, small_audio_cnn widths 32-64-128); "tsm" is
`tsm_resnet(--depth, stem=--stem, width=--width)`; audio "small" is
`small_audio_cnn()` defaults, "resnet18" / "resnet50" `audio_resnet` as the peer
builds them. `--threads` sets TensorFlow's intra-op threads (0: TF's default).
`--parts step` times the step only. Prints one JSON line.
"""
import argparse
import json
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def build_encoders(args, frames, size, sample_rate):
    """(video, audio) encoders as `mmv_task.build_model` builds them (synchronized BN), per the flags."""
    from sslzoo import backbones
    from sslzoo.train import mmv_task

    preset = mmv_task.MMV_AVDIGITS
    if args.video == "preset":
        video_spec = dict(preset["backbone"])
    else:
        video_spec = {"name": "tsm_resnet", "depth": args.depth, "stem": args.stem, "width": args.width}
    if args.audio == "preset":
        audio_spec = dict(preset["audio_backbone"])
    elif args.audio == "small":
        audio_spec = {"name": "small_audio_cnn"}
    elif args.audio == "resnet18":  # as bench/mmv_peer_torch.py's AudioEncoder("resnet18")
        audio_spec = {"name": "audio_resnet", "depth": 18, "stem": "cifar", "width": args.width,
                      "num_mel_bins": 40, "frame_length": 512, "frame_step": 256}
    else:  # MMV's audio ResNet50: 80 bins, 2048 / 1024
        audio_spec = {"name": "audio_resnet", "depth": 50, "stem": "imagenet", "width": args.width}
    builders = dict(backbones.BACKBONES, tsm_resnet=backbones.tsm_resnet, audio_resnet=backbones.audio_resnet)
    video = builders[video_spec.pop("name")](input_shape=(frames, size, size, 3), synchronized_bn=True, **video_spec)
    audio = builders[audio_spec.pop("name")](input_shape=(None,), sample_rate=sample_rate, synchronized_bn=True,
                                             **audio_spec)
    return video, audio


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--heads", default="fac", choices=["fac", "shared", "disjoint"])
    parser.add_argument("--jit_compile", action="store_true")
    parser.add_argument("--loss", default="mmv", choices=["mmv", "va"],
                        help="mmv: MMV.train_step (NCE + MIL-NCE, text); va: the PyTorch peer's NCE-only step")
    parser.add_argument("--video", default="preset", choices=["preset", "tsm"])
    parser.add_argument("--depth", type=int, default=18, choices=[18, 34, 50])
    parser.add_argument("--stem", default="cifar", choices=["cifar", "imagenet"])
    parser.add_argument("--width", type=float, default=0.125)
    parser.add_argument("--audio", default="preset", choices=["preset", "small", "resnet18", "resnet50"])
    parser.add_argument("--frames", type=int, default=None, help="default: AV-digits' 16")
    parser.add_argument("--size", type=int, default=None, help="default: AV-digits' 32")
    parser.add_argument("--samples", type=int, default=None, help="default: 1.6 s at the sample rate")
    parser.add_argument("--sample_rate", type=int, default=None, help="default: AV-digits' 16000")
    parser.add_argument("--va_dim", type=int, default=None, help="S_va width (default: the preset's 128)")
    parser.add_argument("--vat_dim", type=int, default=None, help="S_vat width (default: the preset's 64)")
    parser.add_argument("--threads", type=int, default=0, help="TensorFlow intra-op threads; 0 = TF default")
    parser.add_argument("--parts", default="all", choices=["all", "step"])
    args = parser.parse_args()

    import copy

    import tensorflow as tf

    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)

    import keras
    import numpy as np

    from sslzoo import losses
    from sslzoo.data.av_digits import NARRATIONS_PER_CLIP, NUM_FRAMES, CANVAS, SAMPLE_RATE
    from sslzoo.models.mmv import MMV
    from sslzoo.text.mmv_text import MMVTextEncoder
    from sslzoo.train import mmv_task

    frames = args.frames or NUM_FRAMES
    size = args.size or CANVAS
    sample_rate = args.sample_rate or SAMPLE_RATE
    samples = args.samples or int(1.6 * sample_rate)

    preset = copy.deepcopy(mmv_task.MMV_AVDIGITS)
    objective_args = dict(preset["objective_args"], heads=args.heads)
    if args.va_dim:
        objective_args["va_dim"] = args.va_dim
    if args.vat_dim:
        objective_args["vat_dim"] = args.vat_dim
    vocabulary = ["[PAD]", "[UNK]"] + [f"w{i}" for i in range(60)]
    video_encoder, audio_encoder = build_encoders(args, frames, size, sample_rate)
    text_encoder = MMVTextEncoder(vocabulary, sequence_length=preset["sequence_length"], **preset["text_encoder"])
    model = MMV({"video": video_encoder, "audio": audio_encoder, "text": text_encoder}, name="mmv", **objective_args)
    model.compile(optimizer=keras.optimizers.Adam(2e-3), jit_compile=args.jit_compile)
    rng = np.random.default_rng(0)
    b, k, length = args.batch, NARRATIONS_PER_CLIP, preset["sequence_length"]
    batch = {
        "video": tf.constant(rng.random((b, frames, size, size, 3), np.float32)),
        "audio": tf.constant(0.1 * rng.normal(size=(b, samples)).astype(np.float32)),
        "text": tf.constant(rng.integers(0, len(vocabulary), (b, k, length)).astype(np.int32)),
        "text_mask": tf.ones((b, k)), "audio_mask": tf.ones((b,)),
    }

    if args.loss == "mmv":
        trained = model.trainable_variables
        model.optimizer.build(trained)
        step = tf.function(model.train_step, jit_compile=args.jit_compile)
        run_step = lambda: step(batch)  # noqa: E731
    else:
        if args.heads == "shared":
            raise SystemExit("--loss va needs an S_va head: --heads fac or disjoint")
        video_head, audio_head = model.video_va, model.audio_va
        parts_trained = (video_encoder, video_head, audio_encoder, audio_head)
        trained = [v for part in parts_trained for v in part.trainable_variables]
        optimizer = model.optimizer
        optimizer.build(trained)

        @tf.function(jit_compile=args.jit_compile)
        def va_step(video, audio):
            with tf.GradientTape() as tape:
                v = video_head(video_encoder(video, training=True), training=True)
                a = audio_head(audio_encoder(audio, training=True), training=True)
                loss = losses.nce(v, a, model.temperature)
            optimizer.apply(tape.gradient(loss, trained), trained)
            return loss

        run_step = lambda: va_step(batch["video"], batch["audio"])  # noqa: E731
    trainable_params = int(sum(np.prod(v.shape) for v in trained))

    def count(part):
        return int(sum(np.prod(v.shape) for v in part.trainable_variables))

    def encoder_pass(modality, inputs):
        encoder = model.encoders[modality]
        space = "va" if args.loss == "va" else model.spaces(modality)[-1]

        @tf.function(jit_compile=args.jit_compile)
        def run():
            with tf.GradientTape() as tape:
                value = tf.reduce_sum(model.embed(inputs, modality, space, training=True))
            return tape.gradient(value, encoder.trainable_variables)
        return run

    parts = {"step": run_step}
    if args.parts == "all":
        parts["video"] = encoder_pass("video", batch["video"])
        parts["audio"] = encoder_pass("audio", batch["audio"])
        if args.loss == "mmv":
            parts["text"] = encoder_pass("text", tf.reshape(batch["text"], [b * k, length]))
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
    result = {"what": f"sslzoo_mmv_{args.loss}_step", "batch": b, "heads": args.heads, "loss": args.loss,
              "video": args.video if args.video == "preset" else f"tsm_resnet{args.depth}",
              "stem": args.stem, "width": args.width, "audio": args.audio, "frames": frames, "size": size,
              "samples": samples, "sample_rate": sample_rate, "va_dim": model.va_dim,
              "jit_compile": args.jit_compile, "threads": tf.config.threading.get_intra_op_parallelism_threads(),
              "trainable_params": trainable_params,
              "params_by_part": {name: count(part) for name, part in (
                  ("video_encoder", video_encoder), ("audio_encoder", audio_encoder),
                  ("video_head", getattr(model, "video_va", None)), ("audio_head", getattr(model, "audio_va", None)))
                  if part is not None},
              "step_s": round(seconds["step"], 4), "clips_per_s": round(b / seconds["step"], 2)}
    for name in ("video", "audio", "text"):
        if name in seconds:
            result[f"{name}_fwd_bwd_s"] = round(seconds[name], 4)
            result[f"{name}_share"] = round(seconds[name] / seconds["step"], 3)
    result["load_average"] = os.getloadavg()[0]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
