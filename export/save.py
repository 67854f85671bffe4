"""`save`: one call exports an encoder (or an SSL objective's encoder) in any format."""
import os
import shutil
import tempfile

import keras

from sslzoo.export.adapters import adapter_for
from sslzoo.export.hub import write_hub_module
from sslzoo.export.model_card import build_card, write_card
from sslzoo.export.saved_model import write_saved_model
from sslzoo.export.tflite import TFLITE_VARIANTS, write_tflite

FORMATS = ("saved_model", "hub", "tflite")


def split_model(model_or_encoder):
    """(encoder, projector or None, objective name or None) of what `save` was given.

    An SSL objective (anything with an `.encoder`) exports `model.encoder`, and its
    `.projector` as the "projection" output when it has one; a plain `keras.Model`
    is the encoder itself.
    """
    obj = model_or_encoder
    if hasattr(obj, "encoder"):
        encoder, projector, objective = obj.encoder, getattr(obj, "projector", None), type(obj).__name__
    elif hasattr(obj, "encoders"):
        raise ValueError(
            f"`model_or_encoder` {type(obj).__name__} has several encoders "
            f"({sorted(obj.encoders)}); export each one: save(model.encoders[name], path)"
        )
    else:
        encoder, projector, objective = obj, None, None
    if not isinstance(encoder, keras.Model):
        raise ValueError(
            f"`model_or_encoder` must be a keras.Model encoder or an object with an `.encoder`"
            f" keras.Model, got {type(encoder).__name__}"
        )
    if projector is not None and not callable(projector):
        raise ValueError(f"`projector` must be a Keras layer, got {type(projector).__name__}")
    return encoder, projector, objective


def _check_path(path, overwrite):
    path = os.fspath(path)
    if os.path.exists(path) and not overwrite:
        raise ValueError(f"`path` {path!r} already exists; pass overwrite=True to replace it")
    return os.path.abspath(path)


def _write_format(export_format, encoder, adapter, projector, folder, tflite_variants):
    if export_format == "saved_model":
        write_saved_model(encoder, adapter, folder, projector=projector)
    elif export_format == "hub":
        write_hub_module(encoder, adapter, folder, projector=projector)
    else:
        with tempfile.TemporaryDirectory(prefix="sslzoo_tflite_") as saved_model_dir:
            write_saved_model(encoder, adapter, saved_model_dir, projector=projector)
            write_tflite(saved_model_dir, folder, tflite_variants)


def _relative_files(folder):
    return [
        os.path.relpath(os.path.join(root, name), folder)
        for root, _, names in os.walk(folder)
        for name in names
    ]


def save(model_or_encoder, path, format="saved_model", overwrite=False, report=None,
         metadata=None, tflite_variants=TFLITE_VARIANTS, modality=None):
    """Exports an encoder with its preprocessing inside, plus a model card.

    Args:
      model_or_encoder: a built encoder `keras.Model` (for images: float32 (B, S, S, 3)
        in [0, 1] -> h (B, F)), or an SSL objective with `.encoder` (and optionally
        `.projector`, exported as z = projector(h)).
      path: output folder; must not exist unless `overwrite`.
      format: "saved_model" (signatures `serving_default` on raw uint8 images of any
        size, `serving_float`, `serving_fixed`, outputs {"embedding", "projection"}),
        "hub" (the same plus the TF Hub Reusable SavedModel API) or "tflite"
        (`model_<variant>.tflite` files converted from the SavedModel).
      overwrite: replace an existing `path`.
      report: evaluation report (dict or report.json path) for the model card.
      metadata: extra model-card fields (e.g. "training_data", "training_budget").
      tflite_variants: subset of ("float32", "float16", "int8") for format="tflite".
      modality: input adapter name (see `sslzoo.export.adapters`); None infers it.
    Returns:
      The absolute export folder path.
    Raises:
      ValueError: unknown format, unbuilt model, existing path, unknown variant.
    """
    if format not in FORMATS:
        raise ValueError(f"`format` must be one of {FORMATS}, got {format!r}")
    encoder, projector, objective = split_model(model_or_encoder)
    adapter = adapter_for(encoder, modality)
    path = _check_path(path, overwrite)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".sslzoo_export_", dir=parent)
    try:
        _write_format(format, encoder, adapter, projector, staging, tflite_variants)
        card = build_card(
            objective=objective, encoder=encoder, adapter=adapter,
            has_projection=projector is not None, export_format=format,
            files=_relative_files(staging), report=report, metadata=metadata,
        )
        write_card(card, staging)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)
        os.replace(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path
