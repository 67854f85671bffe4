"""The MMV task of `sslzoo-train`: AV-digits clips, an MMV model, retrieval / probes / zero-shot.

`sslzoo.train.pretrain` runs it for presets with `"task": "mmv"`:

    built = build(preset, strategy)          # {"model", "train_dataset", ...}
    model.fit(built["train_dataset"], epochs=preset["epochs"], callbacks=callbacks(built))
    report = evaluate(model, built)           # retrieval, probes, zero-shot, missing_modality

Training reads the AV-digits train split (`sslzoo.data.av_digits`); the word
vocabulary is learned from its narrations only. Evaluation reads
`preset["eval_split"]` ("validation" while tuning, "test" once): text queries
are the split's narrations that describe their own clip (the first per clip),
a text hit is a clip of the same digit and direction, an audio hit a clip of
the same digit; the linear probes train on the train split's features; zero-shot
prompts use only `HELD_OUT_TEMPLATES`, which training never sees.
"""
import numpy as np
import tensorflow as tf

from sslzoo import augment, backbones
from sslzoo.augment import views
from sslzoo.data.av_digits import (CANVAS, CLASS_NAMES, DEFAULT_CLIPS, DIRECTIONS, HELD_OUT_TEMPLATES, NUM_FRAMES,
                                    SAMPLE_RATE, av_digits, av_digits_dataset, narration)
from sslzoo.data.pipeline import endless_passes, permuted_batches
from sslzoo.evaluation.multimodal import multimodal_report
from sslzoo.models.mmv import MMV
from sslzoo.text.mmv_text import MMVTextEncoder, learn_word_vocabulary
from sslzoo.train import task

BATCH_KEYS = ("video", "audio", "text", "text_mask", "audio_mask")

# The preset, as the lead wires it into sslzoo.models.presets (kept here as the source of truth
# for the MMV fields until then).
from sslzoo.models.presets import PRESETS  # noqa: E402

MMV_AVDIGITS = PRESETS["mmv_avdigits"]

_SPLITS = {}


def load_split(split, seed=0, num_clips=None):
    """`av_digits(split)` arrays, generated once per process (split, seed, num_clips)."""
    key = (split, seed, num_clips)
    if key not in _SPLITS:
        _SPLITS[key] = av_digits(split, num_clips=num_clips, seed=seed)
    return _SPLITS[key]


def narrations(data):
    """Every non-empty narration of `data` (a vocabulary corpus)."""
    return [text for row, mask in zip(data["text"], data["text_mask"]) for text, m in zip(row, mask) if m > 0]


def build_model(preset, vocabulary):
    """The (uncompiled) MMV model of the preset, encoders with synchronized BN."""
    video_spec = dict(preset["backbone"])
    audio_spec = dict(preset["audio_backbone"])
    video = backbones.get(video_spec.pop("name"), input_shape=(NUM_FRAMES, CANVAS, CANVAS, 3),
                          synchronized_bn=True, **video_spec)
    audio = backbones.get(audio_spec.pop("name"), input_shape=(None,), sample_rate=SAMPLE_RATE,
                          synchronized_bn=True, **audio_spec)
    text = MMVTextEncoder(vocabulary, sequence_length=preset["sequence_length"], **preset["text_encoder"])
    return MMV({"video": video, "audio": audio, "text": text}, name="mmv", **preset["objective_args"])


def build_clip_augment(preset, seed=None):
    """The preset's training-time video augmentation (`augment.ClipAffine`), or None."""
    spec = dict(preset.get("augment") or {})
    if not spec:
        return None
    spec.pop("kind")  # "clip_affine", checked by the recipe
    return augment.ClipAffine(seed=seed, **spec)


def clip_dataset(data, tokenizer, batch_size, training, seed=0, endless=False, clip_augment=None):
    """Batches `{"video", "audio", "text" (B, K, L) int32, "text_mask", "audio_mask"}` of AV-digits arrays.

    Shuffled (seeded, every pass) when `training`; drop_remainder so every replica
    holds the same local batch. `endless`: one training pass after another, each
    shuffled by a stateless pass seed (`sslzoo.data.pipeline.endless_passes`), what
    a resumable run iterates. `clip_augment` (training only): a callable
    `(video, seed=)`, e.g. `augment.ClipAffine`; in the endless passes each batch
    draws from `views.batch_seed(pass seed, its clip indices)`, so a resumed run
    sees the same clips; otherwise from the augment's own seed stream.
    """
    if clip_augment is not None and not training:
        raise ValueError("`clip_augment` is for training batches; pass training=True or no augment")

    def to_batch(clips):
        strings = clips["text"]  # (B, K)
        shape = tf.shape(strings)
        ids = tokenizer(tf.reshape(strings, [-1]))
        ids = tf.reshape(ids, [shape[0], shape[1], tokenizer.sequence_length])
        batch = {key: clips[key] for key in BATCH_KEYS if key != "text"}
        batch["text"] = tf.cast(ids, tf.int32)
        return batch

    if endless:
        # Shuffle clip indices and gather (the arrays are held once, outside the passes).
        columns = {key: tf.constant(data[key].astype(str) if key == "text" else data[key]) for key in BATCH_KEYS}
        count = len(data["label"])

        def one_pass(pass_seed):
            def gather(indices):
                clips = {key: tf.gather(value, indices) for key, value in columns.items()}
                clips["video"] = tf.cast(clips["video"], tf.float32) / 255.0
                if clip_augment is not None:
                    clips["video"] = clip_augment(clips["video"], seed=views.batch_seed(pass_seed, indices))
                return to_batch(clips)

            return (permuted_batches(count, batch_size, pass_seed)
                    .map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE))

        return endless_passes(one_pass, seed)
    dataset = av_digits_dataset(data=data, training=training, seed=seed)
    dataset = dataset.batch(batch_size, drop_remainder=True)
    if clip_augment is not None:
        dataset = dataset.map(lambda clips: dict(clips, video=clip_augment(clips["video"])))
    return dataset.map(to_batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)


def build(preset, strategy=None, *, data_dir=None, max_examples=None, seed=0, jit_compile=False,
          precision="float32"):
    """Compiled MMV model and its training data.

    Args:
      preset: a preset dict like `MMV_AVDIGITS` (dataset "avdigits" only).
      strategy: tf.distribute strategy (default: the current one).
      data_dir: unused (AV-digits is generated); max_examples: train on at most this many clips.
      seed: data and dropout seed; jit_compile: XLA for the step (one device);
      precision: "float32" or a mixed policy already set globally.
    Returns:
      dict with "model", "train_dataset", "steps_per_epoch", "global_batch",
      "learning_rate", "preset", "train_data" (the arrays, reused by `evaluate`).
    """
    del data_dir
    if preset.get("dataset") != "avdigits":
        raise ValueError(f"the mmv task trains on dataset 'avdigits' only, got {preset.get('dataset')!r}")
    global_batch = task.global_batch_size(preset, strategy)
    num_clips = int(preset.get("train_clips", DEFAULT_CLIPS["train"]))
    if max_examples:
        num_clips = min(num_clips, int(max_examples))
    train_data = load_split("train", seed, num_clips)
    vocabulary = learn_word_vocabulary(narrations(train_data), preset["vocabulary_size"])
    steps_per_epoch = num_clips // global_batch
    if steps_per_epoch < 1:
        raise ValueError(f"batch_size {global_batch} is larger than the {num_clips} training clips")
    model, peak = task.compile_objective(preset, strategy, lambda: build_model(preset, vocabulary), steps_per_epoch,
                                         global_batch, precision=precision, jit_compile=jit_compile)
    train_dataset = clip_dataset(train_data, model.tokenizer, global_batch, training=True, seed=seed,
                                 clip_augment=build_clip_augment(preset, seed))
    train_passes = clip_dataset(train_data, model.tokenizer, global_batch, training=True, seed=seed, endless=True,
                                clip_augment=build_clip_augment(preset, seed))
    return {"model": model, "train_dataset": train_dataset, "train_passes": train_passes, "steps_per_epoch": steps_per_epoch,
            "global_batch": global_batch, "learning_rate": peak, "preset": preset, "train_data": train_data,
            "seed": seed}


def callbacks(built, probe_every=1):
    """No task-specific callbacks (evaluation runs once, in `evaluate`)."""
    del built, probe_every
    return []


def _first_aligned(data):
    """(clip index, narration) of the first narration of each clip that describes the clip itself."""
    clips, texts = [], []
    for i, (row, mask, aligned) in enumerate(zip(data["text"], data["text_mask"], data["aligned"])):
        for text, m, a in zip(row, mask, aligned):
            if m > 0 and a:
                clips.append(i)
                texts.append(text)
                break
    return np.asarray(clips, np.int64), texts


def zero_shot_prompts(templates=HELD_OUT_TEMPLATES):
    """For each digit, its narrations under `templates` in every direction, as a word and a numeral."""
    return [[narration(t, d, direction, numeral) for t in templates
             for direction in range(len(DIRECTIONS)) for numeral in (False, True)]
            for d in range(len(CLASS_NAMES))]


def evaluation_inputs(model, train_data, eval_data):
    """The arguments of `multimodal_report` for AV-digits arrays."""
    tokenizer = model.tokenizer

    def ids(texts):
        return np.asarray(tokenizer(tf.constant(list(texts))))

    query_clip, query_text = _first_aligned(eval_data)
    train_clip, train_text = _first_aligned(train_data)
    num_directions = len(DIRECTIONS)
    train_text_ids = np.zeros((len(train_data["label"]), tokenizer.sequence_length), np.int32)
    train_text_ids[train_clip] = ids(train_text)
    train_text_mask = np.zeros(len(train_data["label"]), np.float32)
    train_text_mask[train_clip] = 1.0
    train_clips = {"video": train_data["video"], "audio": train_data["audio"], "audio_mask": train_data["audio_mask"],
                   "label": train_data["label"], "text_ids": train_text_ids, "text_mask": train_text_mask}
    test_clips = {"video": eval_data["video"], "audio": eval_data["audio"], "audio_mask": eval_data["audio_mask"],
                  "label": eval_data["label"],
                  "text_class": eval_data["label"] * num_directions + eval_data["direction"]}
    queries = {"ids": ids(query_text), "clip": query_clip}
    return train_clips, test_clips, queries


def evaluate(model, built, model_dir=None, max_examples=None):
    """Retrieval, probes, zero-shot and missing-modality metrics on `preset["eval_split"]`.

    Args:
      model: a trained `MMV` with a tokenizer.
      built: the dict from `build` (or the preset dict itself).
      model_dir: if given, the plots `retrieval_curves.png` and `similarity.png` go there.
      max_examples: evaluate on the first N clips of the split only.
    Returns:
      the `sslzoo.evaluation.multimodal_report` dict plus "eval_split".
    """
    preset = built.get("preset", built)
    split = preset.get("eval_split", "test")
    seed = built.get("seed", 0)
    train_data = built.get("train_data") or load_split("train", seed, preset.get("train_clips"))
    eval_data = load_split(split, seed)
    if max_examples:
        eval_data = {key: value[:max_examples] for key, value in eval_data.items()}
    train_clips, test_clips, queries = evaluation_inputs(model, train_data, eval_data)
    report = multimodal_report(model, train_clips, test_clips, queries, zero_shot_prompts(),
                               keep_embeddings=model_dir is not None)
    embeddings = report.pop("embeddings", None)
    if model_dir is not None and embeddings is not None:
        import os

        from sslzoo import plots_multimodal

        plots_multimodal.plot_retrieval_curves(embeddings, test_clips, os.path.join(model_dir, "retrieval_curves.png"))
        plots_multimodal.plot_similarity(embeddings, test_clips, os.path.join(model_dir, "similarity.png"))
    report["eval_split"] = split
    return report
