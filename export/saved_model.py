"""Writes the serving SavedModel: `serving_default`, `serving_float`, `serving_fixed`, `<modality>`."""
import os

import tensorflow as tf

from sslzoo.export.serving import ServingModule


def load_saved_model(path):
    """`tf.saved_model.load(path)` with the custom ops an sslzoo export may hold registered first.

    A text signature tokenises inside the graph with tensorflow-text's ops
    (`FastBertNormalize`, `FastWordpieceTokenizeWithOffsets`, ...), which TensorFlow only
    knows once `tensorflow_text` is imported; a fresh process that loads the export
    without it fails with "Op type not registered".

    A missing folder, a folder without `saved_model.pb`, or a damaged or half-copied
    export (truncated files, `variables/` missing) raises ValueError naming the folder
    and what was expected, instead of TensorFlow's bare "Read less bytes than requested".
    """
    import tensorflow_text  # noqa: F401  (registers its ops with TensorFlow)

    path = str(path)
    expected = "expected a folder written by sslzoo.export.save: saved_model.pb and variables/"
    if not tf.io.gfile.isdir(path):
        found = "a file" if tf.io.gfile.exists(path) else "no such folder"
        raise ValueError(f"`path` {path!r} is not an export folder ({found}); {expected}")
    if not tf.io.gfile.exists(os.path.join(path, "saved_model.pb")):
        raise ValueError(f"`path` {path!r} has no saved_model.pb (found {sorted(tf.io.gfile.listdir(path))}); {expected}")
    try:
        return tf.saved_model.load(path)
    except (OSError, IndexError, tf.errors.OpError) as error:
        detail = " ".join(str(error).split())[:300]
        raise ValueError(f"`path` {path!r} holds a damaged or incomplete export (a copy cut short?): "
                         f"{type(error).__name__}: {detail}; {expected}") from error


def write_module(module, path):
    """Saves a `ServingModule` (or subclass) with its signatures to the folder `path`."""
    tf.saved_model.save(module, path, signatures=module.signatures)
    return path


def write_saved_model(encoder, adapter, path, projector=None, spaces=None):
    """Exports `encoder` (and `projector`) as a serving SavedModel in `path`.

    Args:
      encoder: built `keras.Model`, adapter.model_spec -> h (B, F).
      adapter: its `InputAdapter` (preprocessing inside the graph).
      path: output folder (saved_model.pb, variables/, assets/).
      projector: optional head h (B, F) -> z (B, D), served as "projection".
      spaces: {space: head(features, model_inputs)} for the `<modality>` signature.
    Returns:
      `path`.
    """
    return write_module(ServingModule(encoder, adapter, projector=projector, spaces=spaces), path)
