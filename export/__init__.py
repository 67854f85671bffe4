"""sslzoo.export: encoders as SavedModel, TF Hub (Reusable SavedModel) and TFLite.

    sslzoo.export.save(model, "out/simclr", format="saved_model" | "hub" | "tflite")
    encoder = sslzoo.export.load_encoder("out/simclr_hub", trainable=True)   # Keras 3
    sslzoo.export.save(mmv, "out/mmv", format="hub")       # signatures video, audio, text
    mmv = sslzoo.export.load_multimodal("out/mmv")          # mmv.embed(raw, "text", "vat")

Every export runs the evaluation-time preprocessing inside the graph (raw uint8
images of any size in `serving_default`) and has a model card beside it. An objective
with several encoders (CLIP, MMV) becomes one SavedModel with one signature per
modality (`sslzoo.export.multimodal`). Input modalities plug in through
`sslzoo.export.adapters` (`InputAdapter`, `register_adapter`): image, text
(`text_adapter`), video and audio (`av_adapters`) are registered on import.
"""
from sslzoo.export.adapters import InputAdapter, adapter_for, register_adapter
from sslzoo.export.load import RestoredEncoder, load_encoder
from sslzoo.export.multimodal import MultimodalEncoder, load_multimodal
from sslzoo.export.save import FORMATS, save
from sslzoo.export.tflite import TFLITE_VARIANTS
from sslzoo.export import text_adapter  # noqa: F401  (registers the "text" input adapter)
from sslzoo.export import av_adapters  # noqa: F401  (registers the "video" and "audio" input adapters)

__all__ = [
    "FORMATS", "TFLITE_VARIANTS", "InputAdapter", "MultimodalEncoder", "RestoredEncoder", "adapter_for",
    "load_encoder", "load_multimodal", "register_adapter", "save",
]
