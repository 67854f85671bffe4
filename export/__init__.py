"""sslzoo.export: encoders as SavedModel, TF Hub (Reusable SavedModel) and TFLite.

    sslzoo.export.save(model, "out/simclr", format="saved_model" | "hub" | "tflite")
    encoder = sslzoo.export.load_encoder("out/simclr_hub", trainable=True)   # Keras 3

Every export runs the evaluation-time preprocessing inside the graph (raw uint8
images of any size in `serving_default`) and has a model card beside it. New input
modalities (text, audio, video) plug in through `sslzoo.export.adapters`
(`InputAdapter`, `register_adapter`); see that module's docstring.
"""
from sslzoo.export.adapters import InputAdapter, adapter_for, register_adapter
from sslzoo.export.load import RestoredEncoder, load_encoder
from sslzoo.export.save import FORMATS, save
from sslzoo.export.tflite import TFLITE_VARIANTS
from sslzoo.export import text_adapter  # noqa: F401  (registers the "text" input adapter)

__all__ = [
    "FORMATS", "TFLITE_VARIANTS", "InputAdapter", "RestoredEncoder", "adapter_for",
    "load_encoder", "register_adapter", "save",
]
