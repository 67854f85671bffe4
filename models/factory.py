"""Turns a preset (`sslzoo.models.presets`) into an encoder, objective, augmentation and optimizer."""
import copy

from sslzoo import augment, backbones, heads, optimizers
from sslzoo.models import registry
from sslzoo.models.base import MomentumSSLModel

# Augmentation recipes by name: keyword arguments of SimCLRAugment / MultiCrop.
AUGMENT_RECIPES = {
    "digits": augment.DIGITS_RECIPE,
    "cifar": {"crop_area": (0.08, 1.0), "jitter_strength": 0.5, "blur_prob": 0.0},
    "imagenet": {"crop_area": (0.08, 1.0), "jitter_strength": 1.0, "blur_prob": 0.5},
    "barlow_cifar": {"crop_area": (0.08, 1.0), "jitter_strength": 0.5, "blur_prob": 0.0,
                     "solarize_prob": (0.0, 0.2)},
    "barlow_imagenet": {"crop_area": (0.08, 1.0), "jitter_strength": 1.0, "blur_prob": (1.0, 0.1),
                        "solarize_prob": (0.0, 0.2)},
}


def build_encoder(preset, synchronized_bn=True):
    """The preset's backbone, taking (B, S, S, 3) float images in [0, 1]."""
    spec = dict(preset["backbone"])
    name = spec.pop("name")
    size = preset["image_size"]
    return backbones.get(name, input_shape=(size, size, 3), synchronized_bn=synchronized_bn, **spec)


def build_objective(preset, encoder=None, total_steps=None):
    """The preset's objective (a `keras.Model`, not compiled) around `encoder`.

    Any registered objective (`sslzoo.models.available()`) works. A momentum
    objective whose class defaults to a cosine momentum schedule gets
    `momentum_schedule_steps=total_steps` unless the preset sets it.
    """
    cls = registry.get(preset["objective"])
    encoder = encoder or build_encoder(preset)
    args = copy.deepcopy(preset.get("objective_args", {}))
    if (issubclass(cls, MomentumSSLModel) and cls.cosine_momentum_by_default and total_steps
            and "momentum_schedule_steps" not in args):
        args["momentum_schedule_steps"] = int(total_steps)
    if "projector" in args:
        args["projector"] = heads.ProjectionHead(synchronized_bn=True, **args["projector"])
    if "predictor" in args:
        args["predictor"] = heads.PredictionHead(synchronized_bn=True, **args["predictor"])
    return cls(encoder, name=preset["objective"], **args)


def augment_arguments(preset, seed=None):
    """(kind, keyword arguments) of the preset's view generator, recipe and preset fields merged.

    A multicrop spec may name `local_size` (default: the preset's `image_size`).
    Its `crop_area` (low, high) gives the global crops (max(0.14, low), high) and
    the local crops (max(0.05, low / 2), max(0.14, low)): SwAV's (0.14, 1) and
    (0.05, 0.14) for low = 0.08. `global_area` and `local_area` fields replace these.
    """
    spec = dict(preset["augment"])
    kind, recipe = spec.pop("kind"), spec.pop("recipe")
    if recipe not in AUGMENT_RECIPES:
        raise ValueError(f"Unknown augmentation recipe {recipe!r}; known: {', '.join(sorted(AUGMENT_RECIPES))}")
    kwargs = {**AUGMENT_RECIPES[recipe], **spec, "seed": seed}  # the preset's own fields win
    if kind == "simclr":
        return kind, kwargs
    if kind == "multicrop":
        crop_area = kwargs.pop("crop_area")
        kwargs["local_size"] = kwargs.pop("local_size", preset["image_size"])
        for per_view in ("blur_prob", "solarize_prob"):
            value = kwargs.get(per_view)
            if isinstance(value, (tuple, list)):
                kwargs[f"local_{per_view}"] = value[-1]
        kwargs["local_area"] = kwargs.pop("local_area", (max(0.05, crop_area[0] / 2), max(0.14, crop_area[0])))
        kwargs["global_area"] = kwargs.pop("global_area", (max(0.14, crop_area[0]), crop_area[1]))
        return kind, kwargs
    raise ValueError(f"Unknown augmentation kind {kind!r}; known: simclr, multicrop")


def build_augment(preset, seed=None):
    """The preset's view generator: `SimCLRAugment` (two views) or `MultiCrop` (see `augment_arguments`)."""
    kind, kwargs = augment_arguments(preset, seed)
    size = preset["image_size"]
    if kind == "simclr":
        return augment.SimCLRAugment(size, **kwargs)
    return augment.MultiCrop(size, kwargs.pop("local_size"), **kwargs)


def learning_rate(preset, global_batch):
    """The peak learning rate: the preset's base rate scaled by the global batch."""
    spec = preset["optimizer"]
    scaling = spec.get("scaling")
    base = spec["base_learning_rate"]
    return base if scaling is None else optimizers.scaled_learning_rate(base, global_batch, scaling)


def build_optimizer(preset, steps_per_epoch, global_batch, peak_learning_rate=None):
    """The preset's optimizer on a warmup + cosine schedule over the preset's epochs."""
    spec = dict(preset["optimizer"])
    name = spec.pop("name")
    spec.pop("base_learning_rate")
    spec.pop("scaling", None)
    peak = peak_learning_rate if peak_learning_rate is not None else learning_rate(preset, global_batch)
    total = max(1, preset["epochs"] * steps_per_epoch)
    warmup = min(total - 1, preset.get("schedule", {}).get("warmup_epochs", 0) * steps_per_epoch)
    schedule = optimizers.WarmupCosine(peak, total_steps=total, warmup_steps=max(0, warmup))
    return optimizers.get(name, schedule, **spec)
