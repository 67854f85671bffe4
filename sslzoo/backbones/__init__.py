"""Encoders: `keras.Model`s from images, clips or waveforms to a pooled representation h (B, F).

    encoder = sslzoo.backbones.resnet18(input_shape=(32, 32, 3), stem="cifar")
    encoder = sslzoo.backbones.get("small_cnn", input_shape=(28, 28, 3))
    encoder = sslzoo.backbones.get("vit_small")                    # ViT-S/16, [CLS] token (B, 384)
    encoder = sslzoo.backbones.get("tsm_resnet50")                 # clips (B, T, H, W, 3) in [0, 1]
    encoder = sslzoo.backbones.get("audio_resnet50")               # raw waveforms (B, samples)

Images: resnet18/34/50, small_cnn, vit_tiny / vit_small / vit_digits (Vision
Transformers, any configuration via `vit`). Video (`video.py`): tsm_resnet18/50 (any
depth via `tsm_resnet`), s3d (S3D-G), small_video_cnn. Audio (`audio.py`, log-mel
in the graph): audio_resnet18/50 (any depth via `audio_resnet`), small_audio_cnn.
"""
from sslzoo.backbones.common import any_size
from sslzoo.backbones.common import keywords_of
from sslzoo.backbones.resnet import resnet, resnet18, resnet34, resnet50
from sslzoo.backbones.small_cnn import small_cnn
from sslzoo.backbones.audio import audio_resnet, small_audio_cnn
from sslzoo.backbones.video import s3d, small_video_cnn, tsm_resnet, tsm_resnet18, tsm_resnet50
from sslzoo.backbones.vit import vit, vit_digits, vit_small, vit_tiny


@keywords_of(audio_resnet, "depth")
def audio_resnet18(**kwargs):
    """Audio ResNet-18 on the log-mel spectrogram, h (B, 512 * width); keywords as in `audio_resnet`."""
    return audio_resnet(18, **kwargs)


@keywords_of(audio_resnet, "depth")
def audio_resnet50(**kwargs):
    """Audio ResNet-50 on the log-mel spectrogram, h (B, 2048 * width); keywords as in `audio_resnet`."""
    return audio_resnet(50, **kwargs)


BACKBONES = {
    "resnet18": resnet18,
    "resnet34": resnet34,
    "resnet50": resnet50,
    "small_cnn": small_cnn,
    "vit_tiny": vit_tiny,
    "vit_small": vit_small,
    "vit_digits": vit_digits,
    "tsm_resnet18": tsm_resnet18,
    "tsm_resnet50": tsm_resnet50,
    "s3d": s3d,
    "small_video_cnn": small_video_cnn,
    "audio_resnet18": audio_resnet18,
    "audio_resnet50": audio_resnet50,
    "small_audio_cnn": small_audio_cnn,
}


def get(name, **kwargs):
    """Builds the backbone called `name` (see `BACKBONES`) with `kwargs`."""
    if name not in BACKBONES:
        raise ValueError(f"Unknown backbone name={name!r}; known names: {sorted(BACKBONES)}")
    return BACKBONES[name](**kwargs)


__all__ = ["BACKBONES", "any_size", "audio_resnet", "audio_resnet18", "audio_resnet50", "get", "resnet", "resnet18",
           "resnet34", "resnet50", "s3d", "small_audio_cnn", "small_cnn", "small_video_cnn", "tsm_resnet",
           "tsm_resnet18", "tsm_resnet50", "vit", "vit_digits", "vit_small", "vit_tiny"]
