"""The model card written beside every export: `model_card.json` and `model_card.md`.

Fields: objective, backbone, training data and budget, evaluation results (from a
training run's report.json), input and output specs, export format, and the versions
of TensorFlow, Keras and sslzoo that wrote it.
"""
import json
import os

import keras
import numpy as np
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
               report=None, metadata=None, spaces=None):
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
      spaces: names of the embedding spaces the `<modality>` signature outputs beside
        "features", or None when the export has no such signature.
    """
    report = load_report(report)
    metadata = dict(metadata or {})
    embedding_dim = int(encoder.output_shape[-1])
    outputs = {"embedding": f"float32 [batch, {embedding_dim}]: the pooled representation h"}
    if has_projection:
        outputs["projection"] = "float32 [batch, D]: the projection head's output z = g(h)"
    signatures = {}
    if spaces is not None:
        signatures[adapter.modality] = {
            "input": f"`{adapter.modality}`: {adapter.signature_spec.dtype.name} {adapter.signature_spec.shape}",
            "outputs": ["features"] + list(spaces),
        }
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
        **({"signatures": signatures} if signatures else {}),
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


def _versions():
    return {"tensorflow": tf.__version__, "keras": keras.__version__, "sslzoo": sslzoo.__version__}


def build_multimodal_card(*, model, adapters, outputs, export_format, files, report=None, metadata=None):
    """The card of a per-modality export (`sslzoo.export.multimodal`) as a JSON-ready dict.

    Args:
      model: the objective (its class name, encoders and parameter counts).
      adapters: {modality: InputAdapter}, in signature order.
      outputs: {modality: {output name: shape list}} of the signatures.
      export_format: "saved_model" or "hub".
      files, report, metadata: as in `build_card`.
    Returns:
      dict with, per modality, the signature's input, preprocessing and outputs, plus
      `video_frames` and `audio_sample_rate` when the encoders fix them (readers of the
      export, such as `sslzoo.search`, use them to cut media).
    """
    report = load_report(report)
    metadata = dict(metadata or {})
    signatures = {}
    for modality, adapter in adapters.items():
        spec = adapter.signature_spec
        encoder = model.encoders[modality]
        signatures[modality] = {
            "input": f"`{spec.name}`: {spec.dtype.name} {spec.shape}",
            **adapter.describe(),
            "encoder": encoder.name,
            "parameters": int(encoder.count_params()),
            "outputs": {name: f"float32 {shape}: " + ("the encoder's output h" if name == "features" else
                                                     f"model.embed(..., space={name!r})")
                        for name, shape in outputs[modality].items()},
        }
    card = {
        "name": metadata.pop("name", getattr(model, "name", type(model).__name__)),
        "objective": type(model).__name__,
        "modalities": list(adapters),
        "parameters": int(sum(int(np.prod(v.shape)) for v in _exported_weights(model, adapters))),
        "training_data": metadata.pop("training_data", report.get("dataset", "unknown")),
        "training_budget": metadata.pop("training_budget", report.get("training", "unknown")),
        "evaluation": report.get("evaluation", report) or "not evaluated",
        "signatures": signatures,
        "format": export_format,
        "files": sorted(files),
        "versions": _versions(),
    }
    video, audio = adapters.get("video"), adapters.get("audio")
    if video is not None and video.frames is not None:
        card["video_frames"] = video.frames
    if audio is not None and audio.sample_rate:
        card["audio_sample_rate"] = audio.sample_rate
    card.update(metadata)
    return card


def _exported_weights(model, adapters):
    seen, weights = set(), []
    for modality in adapters:
        for weight in model.encoders[modality].weights:
            if id(weight) not in seen:
                seen.add(id(weight))
                weights.append(weight)
    return weights


USAGE = {
    "saved_model": ("import tensorflow_text  # registers the tokenizer ops a text signature uses\n"
                    'serve = tf.saved_model.load(path).signatures["serving_default"]\n'
                    'outputs = serve(images=uint8_images)  # {"embedding": ..., ...}'),
    "hub": ("module = hub.load(path)  # or hub.KerasLayer(path, trainable=True) in tf_keras\n"
            "encoder = sslzoo.export.load_encoder(path, trainable=True)  # Keras 3"),
    "multimodal": ("encoder = sslzoo.export.load_multimodal(path)  # .modalities, .spaces(m)\n"
                   'embeddings = encoder.embed(raw_batch, modality, space)  # or tf.saved_model.load(path)'
                   '.signatures[modality]'),
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
    usage = "multimodal" if "modalities" in card else card.get("format")
    if usage in USAGE:
        lines += ["## Usage", "", "```python", USAGE[usage], "```", ""]
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
