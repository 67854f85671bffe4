"""The CLIP task of `sslzoo-train`: captioned digits, a CLIP model, zero-shot and retrieval.

`sslzoo.train.pretrain` runs it for presets with `"task": "clip"`:

    built = build(preset, strategy)          # {"model", "train_dataset", ...}
    model.fit(built["train_dataset"], epochs=preset["epochs"], callbacks=callbacks(built))
    report = evaluate(model, built)           # zero_shot_top1, image_to_text/R@1, ...

Evaluation uses the 1,000 held-out test digits and only `HELD_OUT_TEMPLATES`, which
training never sees. Retrieval is class-level: the gallery/query texts are the
10 x T held-out captions, and an image matches every caption of its class.
"""
import numpy as np
import tensorflow as tf

from sslzoo import evaluation, text
from sslzoo.data import captions
from sslzoo.models import factory
from sslzoo.models.clip import CLIP
from sslzoo.train import task

# The clip_digits preset lives in sslzoo.models.presets with the others.

TEXT_ENCODERS = {"transformer": text.TransformerTextEncoder, "bag_of_words": text.BagOfWordsTextEncoder}


def caption_corpus(preset):
    """Every training caption the preset can produce (class names and numerals)."""
    names = list(captions.DIGIT_CLASS_NAMES) + [str(d) for d in range(len(captions.DIGIT_CLASS_NAMES))]
    return [template.format(name) for template in preset["templates"] for name in names]


def build_tokenizer(preset):
    """A `Tokenizer` whose WordPiece vocabulary is learned from the training captions only."""
    vocabulary = text.learn_vocabulary(caption_corpus(preset), preset["vocabulary_size"])
    return text.Tokenizer(vocabulary, preset["sequence_length"])


def build_model(preset, tokenizer):
    """The (uncompiled) CLIP model of the preset."""
    image_encoder = factory.build_encoder(preset)
    spec = dict(preset["text_encoder"])
    name = spec.pop("name")
    if name not in TEXT_ENCODERS:
        raise ValueError(f"preset `text_encoder` name must be one of {sorted(TEXT_ENCODERS)}, got {name!r}")
    text_encoder = TEXT_ENCODERS[name](tokenizer.vocabulary_size, preset["sequence_length"], **spec)
    return CLIP(image_encoder, text_encoder, tokenizer, embedding_dim=preset["embedding_dim"],
                init_temperature=preset["init_temperature"], max_scale=preset["max_scale"])


def build(preset, strategy=None, *, data_dir=None, max_examples=None, seed=0, jit_compile=False,
          precision="float32"):
    """Compiled CLIP model and its training data.

    Args:
      preset: a preset dict like `presets.get("clip_digits")` (dataset "digits" only).
      strategy: tf.distribute strategy (default: the current one).
      data_dir: unused (the digits are bundled); max_examples: use at most this many training digits.
      seed: shuffling and caption seed; jit_compile: XLA for the step (one device);
      precision: "float32" or a mixed policy already set globally.
    Returns:
      dict with "model", "train_dataset" (batches {"image" (B, S, S, 3), "text" (B, L)},
      drop_remainder), "train_passes" (one pass after another: what sslzoo-train iterates), "steps_per_epoch", "global_batch", "learning_rate", "preset".
    """
    del data_dir
    if preset.get("dataset") != "digits":
        raise ValueError(f"the clip task trains on dataset 'digits' only, got {preset.get('dataset')!r}")
    global_batch = task.global_batch_size(preset, strategy)
    tokenizer = build_tokenizer(preset)
    train_dataset = captions.digit_caption_dataset(
        "train", tokenizer, batch_size=global_batch, image_size=preset["image_size"],
        templates=preset["templates"], numeral_fraction=preset["numeral_fraction"], seed=seed,
        limit=max_examples)
    train_passes = captions.digit_caption_dataset(
        "train", tokenizer, batch_size=global_batch, image_size=preset["image_size"],
        templates=preset["templates"], numeral_fraction=preset["numeral_fraction"], seed=seed,
        limit=max_examples, endless=True)
    steps_per_epoch = int(train_dataset.cardinality())
    if steps_per_epoch < 1:
        raise ValueError(f"batch_size {global_batch} is larger than the training set")
    model, peak = task.compile_objective(preset, strategy, lambda: build_model(preset, tokenizer), steps_per_epoch,
                                         global_batch, precision=precision, jit_compile=jit_compile)
    return {"model": model, "train_dataset": train_dataset, "train_passes": train_passes,
            "steps_per_epoch": steps_per_epoch,
            "global_batch": global_batch, "learning_rate": peak, "preset": preset}


def callbacks(built, probe_every=1):
    """No task-specific callbacks (zero-shot runs once, in `evaluate`)."""
    del built, probe_every
    return []


def evaluate(model, built, model_dir=None, max_examples=None):
    """Zero-shot accuracy and class-level retrieval on the held-out digits with held-out templates.

    Args:
      model: a trained `CLIP` with a tokenizer.
      built: the dict from `build` (or the preset dict itself).
      model_dir: unused (the report is written by the caller).
      max_examples: evaluate on the first N test digits only.
    Returns:
      {"zero_shot_top1", "zero_shot_top5", "image_to_text/R@1", "text_to_image/R@1", ...}.
    """
    del model_dir
    preset = built.get("preset", built)
    templates = list(preset["held_out_templates"])
    images, labels = captions.digits("test")
    if max_examples:
        images, labels = images[:max_examples], labels[:max_examples]
    zero_shot = evaluation.zero_shot(model, images, labels, captions.DIGIT_CLASS_NAMES, templates)
    results = {f"zero_shot_{key}": value for key, value in zero_shot.items()}
    class_ids = np.repeat(np.arange(len(captions.DIGIT_CLASS_NAMES)), len(templates))
    prompts = [template.format(name) for name in captions.DIGIT_CLASS_NAMES for template in templates]
    image_embeddings = np.concatenate([np.asarray(model.encode_image(images[i:i + 256]))
                                       for i in range(0, len(images), 256)])
    text_embeddings = np.asarray(model.encode_text(tf.constant(prompts)))
    results.update(evaluation.bidirectional_retrieval(image_embeddings, text_embeddings,
                                                      a_ids=labels, b_ids=class_ids))
    results["logit_scale"] = float(np.asarray(model.scale))
    return results
