"""The model card written beside every export: `model_card.json` and `model_card.md`.

Fields: objective, backbone, training data and budget, evaluation results (from a
training run's report.json), input and output specs, export format, and the versions
of TensorFlow, Keras and sslzoo that wrote it.
"""
import json
import os

import keras
import tensorflow as tf

import sslzoo

CARD_JSON = "model_card.json"
CARD_MARKDOWN = "model_card.md"


def load_report(report):
    """`report` as a dict: None -> {}, a dict as is, a path -> its JSON contents."""
    if report is None:
        return {}
    if isinstance(report, dict):
        return report
    if isinstance(report, (str, os.PathLike)):
        if not os.path.isfile(report):
            raise ValueError(f"`report` must be a dict or an existing JSON file, got {report!r}")
        with open(report, encoding="utf-8") as f:
            return json.load(f)
    raise ValueError(f"`report` must be None, a dict or a path, got {type(report).__name__}")


def build_card(*, objective, encoder, adapter, has_projection, export_format, files,
               report=None, metadata=None):
    """The card as a JSON-ready dict.

    Args:
      objective: the SSL objective's class name, or None for a plain encoder.
      encoder: the exported `keras.Model` (its name is the backbone unless metadata
        gives "backbone").
      adapter: its `InputAdapter` (input spec).
      has_projection: whether the outputs include "projection".
      export_format: "saved_model", "hub" or "tflite".
      files: relative paths of the exported files.
      report: dict or report.json path; its "evaluation" entry (else the whole report)
        is the evaluation results, its "training" entry the training budget.
      metadata: dict overriding or adding fields (e.g. "training_data", "license").
    """
    report = load_report(report)
    metadata = dict(metadata or {})
    embedding_dim = int(encoder.output_shape[-1])
    outputs = {"embedding": f"float32 [batch, {embedding_dim}]: the pooled representation h"}
    if has_projection:
        outputs["projection"] = "float32 [batch, D]: the projection head's output z = g(h)"
    card = {
        "name": metadata.pop("name", encoder.name),
        "objective": objective or "none (plain encoder)",
        "backbone": metadata.pop("backbone", encoder.name),
        "parameters": int(encoder.count_params()),
        "training_data": metadata.pop("training_data", report.get("dataset", "unknown")),
        "training_budget": metadata.pop("training_budget", report.get("training", "unknown")),
        "evaluation": report.get("evaluation", report) or "not evaluated",
        "input": adapter.describe(),
        "output": outputs,
        "format": export_format,
        "files": sorted(files),
        "versions": {
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "sslzoo": sslzoo.__version__,
        },
    }
    card.update(metadata)
    return card


USAGE = {
    "saved_model": ('serve = tf.saved_model.load(path).signatures["serving_default"]\n'
                    'outputs = serve(images=uint8_images)  # {"embedding": ..., ...}'),
    "hub": ("module = hub.load(path)  # or hub.KerasLayer(path, trainable=True) in tf_keras\n"
            "encoder = sslzoo.export.load_encoder(path, trainable=True)  # Keras 3"),
    "tflite": ('runner = Interpreter(model_path=path + "/model_float32.tflite")'
               '.get_signature_runner("serving_fixed")\n'
               "outputs = runner(images=uint8_images_at_size)"),
}


def _markdown_lines(value):
    """Bullet lines for one card field (dicts and lists one item a line, nested indented)."""
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            if isinstance(item, dict):
                lines += [f"- {key}:"] + ["  " + line for line in _markdown_lines(item)]
            else:
                lines.append(f"- {key}: {item}")
        return lines
    if isinstance(value, (list, tuple)):
        return [f"- `{item}`" for item in value]
    return [str(value)]


def card_markdown(card):
    """The card as Markdown: title, one section per field, then a usage snippet."""
    lines = [f"# {card['name']}", "", "Self-supervised encoder exported by sslzoo.", ""]
    for key, value in card.items():
        if key != "name":
            lines += [f"## {key.replace('_', ' ').capitalize()}", ""] + _markdown_lines(value) + [""]
    if card.get("format") in USAGE:
        lines += ["## Usage", "", "```python", USAGE[card["format"]], "```", ""]
    return "\n".join(lines)


def write_card(card, folder):
    """Writes `folder/model_card.json` and `folder/model_card.md`; returns their paths."""
    json_path = os.path.join(folder, CARD_JSON)
    markdown_path = os.path.join(folder, CARD_MARKDOWN)
    with open(json_path, "w", encoding="utf-8") as f:
        json.dump(card, f, indent=2, sort_keys=False, default=str)
    with open(markdown_path, "w", encoding="utf-8") as f:
        f.write(card_markdown(card))
    return json_path, markdown_path
