"""Writes a TF Hub Reusable SavedModel, laid out for publishing as a Kaggle Model.

The folder holds `saved_model.pb`, `variables/`, `assets/` (TensorFlow 2 framework
layout of Kaggle Models / TF Hub) and, written by `sslzoo.export.save`, the model
card `model_card.md` / `model_card.json`. Load it with `hub.load(path)`,
`hub.KerasLayer(path, trainable=True)` (tf_keras) or, in Keras 3,
`sslzoo.export.load_encoder(path, trainable=True)`.
"""
from sslzoo.export.saved_model import write_module
from sslzoo.export.serving import HubModule


def write_hub_module(encoder, adapter, path, projector=None, spaces=None):
    """Exports `encoder` as a Reusable SavedModel (plus serving signatures) in `path`.

    Args:
      encoder: built `keras.Model`, adapter.model_spec -> h (B, F).
      adapter: its `InputAdapter`.
      path: output folder.
      projector: optional head h (B, F) -> z (B, D), served by the signatures only.
      spaces: {space: head(features, model_inputs)} for the `<modality>` signature.
    Returns:
      `path`.
    """
    return write_module(HubModule(encoder, adapter, projector=projector, spaces=spaces), path)
