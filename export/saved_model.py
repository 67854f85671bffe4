"""Writes the serving SavedModel: `serving_default`, `serving_float`, `serving_fixed`, `<modality>`."""
import tensorflow as tf

from sslzoo.export.serving import ServingModule


def load_saved_model(path):
    """`tf.saved_model.load(path)` with the custom ops an sslzoo export may hold registered first.

    A text signature tokenises inside the graph with tensorflow-text's ops
    (`FastBertNormalize`, `FastWordpieceTokenizeWithOffsets`, ...), which TensorFlow only
    knows once `tensorflow_text` is imported; a fresh process that loads the export
    without it fails with "Op type not registered".
    """
    import tensorflow_text  # noqa: F401  (registers its ops with TensorFlow)

    return tf.saved_model.load(str(path))


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
