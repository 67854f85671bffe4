"""`save`: one call exports an encoder, an SSL objective's encoder, or every encoder of a multimodal objective."""
import os
import shutil
import tempfile

import keras

from sslzoo.export.adapters import adapter_for
from sslzoo.export.hub import write_hub_module
from sslzoo.export.model_card import build_card, build_multimodal_card, write_card
from sslzoo.export.multimodal import is_multimodal, modality_adapters, select_modalities, space_heads, write_multimodal
from sslzoo.export.saved_model import write_saved_model
from sslzoo.export.serving import LEGACY_SIGNATURES
from sslzoo.export.tflite import TFLITE_VARIANTS, write_tflite

FORMATS = ("saved_model", "hub", "tflite")


def split_model(model_or_encoder):
    """(encoder, projector or None, objective name or None) of what `save` was given.

    An SSL objective (anything with an `.encoder`) exports `model.encoder`, and its
    `.projector` as the "projection" output when it has one; a plain `keras.Model`
    is the encoder itself. (Objectives with several encoders go through
    `sslzoo.export.multimodal` instead.)
    """
    obj = model_or_encoder
    if hasattr(obj, "encoder"):
        encoder, projector, objective = obj.encoder, getattr(obj, "projector", None), type(obj).__name__
    elif hasattr(obj, "encoders") and len(obj.encoders) == 1:
        encoder, projector, objective = next(iter(obj.encoders.values())), None, type(obj).__name__
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


def single_space_heads(model_or_encoder, modality, projector):
    """{space: head(features, model_inputs)} for the `<modality>` signature of a one-encoder export.

    An objective with `spaces`/`project` (or `embed`) serves its spaces as `model.embed`
    computes them; an object with only a `.projector` serves "projection" = projector(h);
    a plain encoder serves "features" alone.
    """
    encoders = getattr(model_or_encoder, "encoders", None)
    if callable(getattr(model_or_encoder, "spaces", None)) and isinstance(encoders, dict) and modality in encoders:
        return space_heads(model_or_encoder, modality)
    if projector is not None:
        return {"projection": lambda features, _: projector(features, training=False)}
    return {}


def _check_path(path, overwrite):
    path = os.fspath(path)
    if os.path.exists(path) and not overwrite:
        raise ValueError(f"`path` {path!r} already exists; pass overwrite=True to replace it")
    return os.path.abspath(path)


def _write_format(export_format, encoder, adapter, projector, folder, tflite_variants, spaces=None):
    if export_format == "saved_model":
        write_saved_model(encoder, adapter, folder, projector=projector, spaces=spaces)
    elif export_format == "hub":
        write_hub_module(encoder, adapter, folder, projector=projector, spaces=spaces)
    else:
        with tempfile.TemporaryDirectory(prefix="sslzoo_tflite_") as saved_model_dir:
            write_saved_model(encoder, adapter, saved_model_dir, projector=projector, spaces=spaces)
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
      model_or_encoder: a built encoder `keras.Model` (for images: float32 (B, S, S, C)
        in [0, 1] -> h (B, F)), or an SSL objective with `.encoder` (and optionally
        `.projector`, exported as z = projector(h)), or an objective with several
        encoders (`model.encoders`, e.g. CLIP, MMV): then one SavedModel with one
        signature per modality (`image`, `text`, `video`, `audio`; see
        `sslzoo.export.multimodal`), formats "saved_model" and "hub".
      path: output folder; must not exist unless `overwrite`.
      format: "saved_model" (signatures `serving_default` on raw uint8 images of any
        size, `serving_float`, `serving_fixed`, outputs {"embedding", "projection"}; and
        `<modality>` (e.g. `image`: uint8 with 1 or 3 channels) -> {"features", spaces}),
        "hub" (the same plus the TF Hub Reusable SavedModel API) or "tflite"
        (`model_<variant>.tflite` files converted from the SavedModel).
      overwrite: replace an existing `path`.
      report: evaluation report (dict or report.json path) for the model card.
      metadata: extra model-card fields (e.g. "training_data", "training_budget").
      tflite_variants: subset of ("float32", "float16", "int8") for format="tflite".
      modality: input adapter name (see `sslzoo.export.adapters`); None infers it. For
        an objective with several encoders: the modality (or tuple of them) to export;
        None exports all.
    Returns:
      The absolute export folder path.
    Raises:
      ValueError: unknown format, unbuilt model, existing path, unknown variant.
    """
    if format not in FORMATS:
        raise ValueError(f"`format` must be one of {FORMATS}, got {format!r}")
    if is_multimodal(model_or_encoder):
        modalities = select_modalities(model_or_encoder, modality)
        if format == "tflite":
            raise ValueError(f"`format` 'tflite' converts one encoder; {type(model_or_encoder).__name__} has "
                             f"{modalities}: save(model.encoders[m], path, format='tflite') for one of them")
        adapters = modality_adapters(model_or_encoder, modalities)

        def write(folder):
            outputs = write_multimodal(model_or_encoder, adapters, folder, format)
            return build_multimodal_card(
                model=model_or_encoder, adapters=adapters, outputs=outputs, export_format=format,
                files=_relative_files(folder), report=report, metadata=metadata)
    else:
        encoder, projector, objective = split_model(model_or_encoder)
        adapter = adapter_for(encoder, modality)
        spaces = single_space_heads(model_or_encoder, adapter.modality, projector)

        def write(folder):
            _write_format(format, encoder, adapter, projector, folder, tflite_variants, spaces=spaces)
            return build_card(
                objective=objective, encoder=encoder, adapter=adapter,
                has_projection=projector is not None, export_format=format,
                files=_relative_files(folder), report=report, metadata=metadata,
                spaces=tuple(spaces) if adapter.modality not in (None, *LEGACY_SIGNATURES) else None,
            )
    path = _check_path(path, overwrite)
    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".sslzoo_export_", dir=parent)
    try:
        card = write(staging)
        write_card(card, staging)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)
        os.replace(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return path
