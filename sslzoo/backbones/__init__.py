"""Image encoders: `keras.Model`s from images (B, H, W, 3) in [0, 1] to h (B, F).

    encoder = sslzoo.backbones.resnet18(input_shape=(32, 32, 3), stem="cifar")
    encoder = sslzoo.backbones.get("small_cnn", input_shape=(28, 28, 3))
"""
from sslzoo.backbones.common import any_size
from sslzoo.backbones.resnet import resnet, resnet18, resnet34, resnet50
from sslzoo.backbones.small_cnn import small_cnn

BACKBONES = {
    "resnet18": resnet18,
    "resnet34": resnet34,
    "resnet50": resnet50,
    "small_cnn": small_cnn,
}


def get(name, **kwargs):
    """Builds the backbone called `name` (see `BACKBONES`) with `kwargs`."""
    if name not in BACKBONES:
        raise ValueError(f"Unknown backbone name={name!r}; known names: {sorted(BACKBONES)}")
    return BACKBONES[name](**kwargs)


__all__ = ["BACKBONES", "any_size", "get", "resnet", "resnet18", "resnet34", "resnet50", "small_cnn"]
