"""Converts a serving SavedModel to TFLite: float32, float16 and dynamic-range int8.

Each `.tflite` file carries two signatures, converted from the SavedModel with
`tf.lite.TFLiteConverter.from_saved_model`:

- `serving_fixed`: uint8 images [batch, S, S, 3] (scaling to [0, 1] inside); it is
  the model's first subgraph, so `Interpreter.get_input_details()` and
  `resize_tensor_input` address it;
- `serving_float`: float32 images [batch, S, S, 3] in [0, 1].

The any-size `serving_default` of the SavedModel is not converted: its antialiased
resize (`ScaleAndTranslate`) has no TFLite kernel, so TFLite users resize to S x S
before the call. The batch dimension stays dynamic (`resize_tensor_input`).
"""
import os

import tensorflow as tf

TFLITE_VARIANTS = ("float32", "float16", "int8")
TFLITE_SIGNATURES = ("serving_fixed", "serving_float")


def tflite_filename(variant):
    """The file name of one variant inside a TFLite export folder."""
    return f"model_{variant}.tflite"


def convert(saved_model_dir, variant):
    """One TFLite flatbuffer (bytes) of the SavedModel in `saved_model_dir`.

    Args:
      saved_model_dir: a SavedModel written by `sslzoo.export` (has TFLITE_SIGNATURES).
      variant: "float32" (no optimisation), "float16" (weights stored as float16) or
        "int8" (dynamic-range quantisation: int8 weights, float activations).
    """
    if variant not in TFLITE_VARIANTS:
        raise ValueError(f"`variant` must be one of {TFLITE_VARIANTS}, got {variant!r}")
    converter = tf.lite.TFLiteConverter.from_saved_model(
        saved_model_dir, signature_keys=list(TFLITE_SIGNATURES)
    )
    if variant == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif variant == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    return converter.convert()


def write_tflite(saved_model_dir, path, variants=TFLITE_VARIANTS):
    """Writes `path/model_<variant>.tflite` for each variant; returns {variant: file path}."""
    variants = tuple(variants)
    if not variants:
        raise ValueError("`tflite_variants` must name at least one variant, got ()")
    unknown = [v for v in variants if v not in TFLITE_VARIANTS]
    if unknown:
        raise ValueError(f"`tflite_variants` must be among {TFLITE_VARIANTS}, got {unknown}")
    os.makedirs(path, exist_ok=True)
    files = {}
    for variant in variants:
        files[variant] = os.path.join(path, tflite_filename(variant))
        with open(files[variant], "wb") as f:
            f.write(convert(saved_model_dir, variant))
    return files
