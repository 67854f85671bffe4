"""Turns a recipe (`sslzoo.models.presets`, a `sslzoo.models.recipe.Recipe`) into an encoder,
objective, augmentation and optimizer.

Every function takes a `Recipe` or a plain dict with the same keys (a preset
dict written before recipes were typed, or `dict(recipe, ...)`).
"""
import copy

from sslzoo import augment, backbones, heads, optimizers
from sslzoo.models import registry
from sslzoo.models.momentum import MomentumSSLModel
from sslzoo.models.recipe import Optimizer, Schedule

# Augmentation recipes by name: keyword arguments of SimCLRAugment / MultiCrop (their
# defaults fill the rest: aspect ratio (3/4, 4/3), flip 0.5, jitter p 0.8, greyscale 0.2,
# blur sigma (0.1, 2.0)). Colour jitter is one strength s: brightness, contrast and
# saturation 0.8 s, hue 0.2 s; (0.4, 0.4, 0.2, 0.1) (BYOL, Barlow Twins, MoCo v3,
# solo-learn's asymmetric.yaml) has no s: those recipes take s = 0.5, saturation 0.4.
AUGMENT_RECIPES = {
    "digits": augment.DIGITS_RECIPE,
    # SimCLR (Chen et al. 2020, appendix A; google-research/simclr data_util.py): jitter s = 1, blur 0.5.
    "imagenet": {"crop_area": (0.08, 1.0), "jitter_strength": 1.0, "blur_prob": 0.5},
    # MoCo v2 "aug+" (facebookresearch/moco main_moco.py, `args.aug_plus`): crop (0.2, 1),
    # ColorJitter(0.4, 0.4, 0.4, 0.1) = s 0.5 with p 0.8, greyscale 0.2, blur 0.5. SimSiam's too.
    "mocov2_aug_plus": {"crop_area": (0.2, 1.0), "jitter_strength": 0.5, "blur_prob": 0.5},
    # BYOL (Grill et al. 2020, table 6), Barlow Twins main.py `Transform`, VICReg: blur 1.0 / 0.1,
    # solarize 0 / 0.2 (view 1 / view 2), jitter (0.4, 0.4, 0.2, 0.1) taken as s = 0.5.
    "byol_imagenet": {"crop_area": (0.08, 1.0), "jitter_strength": 0.5, "blur_prob": (1.0, 0.1),
                      "solarize_prob": (0.0, 0.2)},
    # solo-learn scripts/pretrain/cifar/augmentations/*.yaml (32 px crops, (0.08, 1), flip 0.5,
    # jitter p 0.8, greyscale 0.2):
    # symmetric.yaml: ColorJitter(0.8, 0.8, 0.8, 0.2) = s 1, blur 0.5.
    "solo_symmetric": {"crop_area": (0.08, 1.0), "jitter_strength": 1.0, "blur_prob": 0.5},
    # symmetric_weak.yaml: ColorJitter(0.4, 0.4, 0.4, 0.1) = s 0.5, blur 0.5.
    "solo_symmetric_weak": {"crop_area": (0.08, 1.0), "jitter_strength": 0.5, "blur_prob": 0.5},
    # asymmetric.yaml: ColorJitter(0.4, 0.4, 0.2, 0.1) as s 0.5, no blur, solarize 0 / 0.2.
    "solo_asymmetric": {"crop_area": (0.08, 1.0), "jitter_strength": 0.5, "blur_prob": 0.0,
                        "solarize_prob": (0.0, 0.2)},
    # Earlier names, kept for recipes written with them.
    "cifar": {"crop_area": (0.08, 1.0), "jitter_strength": 0.5, "blur_prob": 0.0},
    "barlow_cifar": {"crop_area": (0.08, 1.0), "jitter_strength": 0.5, "blur_prob": 0.0,
                     "solarize_prob": (0.0, 0.2)},
    "barlow_imagenet": {"crop_area": (0.08, 1.0), "jitter_strength": 0.5, "blur_prob": (1.0, 0.1),
                        "solarize_prob": (0.0, 0.2)},
}


def _optimizer(preset):
    """The recipe's `Optimizer` (a dict is checked and converted)."""
    spec = preset["optimizer"]
    return spec if isinstance(spec, Optimizer) else Optimizer.from_dict(spec, where="optimizer")


def _schedule(preset):
    """The recipe's `Schedule` (a dict is checked and converted; absent: no warmup, cosine to 0)."""
    spec = preset.get("schedule") or {}
    return spec if isinstance(spec, Schedule) else Schedule.from_dict(spec, where="schedule")


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
    kind, recipe = spec.pop("kind"), spec.pop("recipe", None)
    if recipe is not None and recipe not in AUGMENT_RECIPES:
        raise ValueError(f"Unknown augmentation recipe {recipe!r}; known: {', '.join(sorted(AUGMENT_RECIPES))}")
    kwargs = {**AUGMENT_RECIPES.get(recipe, {}), **spec, "seed": seed}  # the preset's own fields win
    if kind == "simclr":
        return kind, kwargs
    if kind == "multicrop":
        crop_area = kwargs.pop("crop_area", (0.08, 1.0))
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
    return _optimizer(preset).peak_learning_rate(int(global_batch))


def schedule_steps(preset, steps_per_epoch):
    """(total steps, warmup steps) of the recipe's schedule at `steps_per_epoch`."""
    total = max(1, int(preset["epochs"]) * int(steps_per_epoch))
    warmup = int(round(_schedule(preset).warmup_epochs * steps_per_epoch))
    return total, max(0, min(total - 1, warmup))


def build_schedule(preset, steps_per_epoch, peak_learning_rate):
    """The recipe's learning-rate schedule: warmup from 0, half cosine to `end_fraction` x peak."""
    total, warmup = schedule_steps(preset, steps_per_epoch)
    end = peak_learning_rate * _schedule(preset).end_fraction
    return optimizers.WarmupCosine(peak_learning_rate, total_steps=total, warmup_steps=warmup,
                                   end_learning_rate=end)


def build_optimizer(preset, steps_per_epoch, global_batch, peak_learning_rate=None):
    """The preset's optimizer on a warmup + cosine schedule over the preset's epochs."""
    spec = _optimizer(preset)
    peak = peak_learning_rate if peak_learning_rate is not None else learning_rate(preset, global_batch)
    return optimizers.get(spec.name, build_schedule(preset, steps_per_epoch, peak), **spec.arguments())


def _accepted_names(target):
    """Keyword names `target` (a function or class) takes, following `**kwargs` up a class's MRO;
    None when it takes arbitrary keywords (nothing to check)."""
    import inspect

    names = set()
    for owner in (target.__mro__ if inspect.isclass(target) else (target,)):
        function = owner.__init__ if inspect.isclass(target) else owner
        if inspect.isclass(target) and "__init__" not in vars(owner):
            continue
        try:
            parameters = inspect.signature(function).parameters.values()
        except (TypeError, ValueError):
            return None
        names |= {p.name for p in parameters if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
        if not any(p.kind == p.VAR_KEYWORD for p in parameters):
            return names - {"self"}
        if inspect.isclass(target) and owner.__module__.startswith("keras."):
            return names - {"self"} | {"name", "dtype", "trainable"}
    return None


def _check_keys(where, given, target, handled=()):
    """RecipeError naming the first key of `given` that `target` does not take."""
    from sslzoo.models.recipe import RecipeError

    accepted = _accepted_names(target)
    if accepted is None:
        return
    accepted |= set(handled)
    for key in given:
        if key not in accepted:
            raise RecipeError(f"{where}.{key} is not an argument of {getattr(target, '__name__', target)} "
                              f"(its arguments: {', '.join(sorted(accepted - {'self'}))})")


def check_arguments(recipe, where="recipe: "):
    """Checks every nested argument dict of a recipe against what it configures, before any
    work: `objective_args` (and its `projector` / `predictor` heads) against the registered
    objective, `backbone` against the backbone builder, `augment` against the view
    generator. Raises `RecipeError` naming the key (e.g. "objective_args.temprature")."""
    if recipe.get("objective") in registry.available():
        args = recipe.get("objective_args") or {}
        _check_keys(f"{where}objective_args", args, registry.get(recipe["objective"]))
        for head, cls in (("projector", heads.ProjectionHead), ("predictor", heads.PredictionHead)):
            if isinstance(args.get(head), dict):
                _check_keys(f"{where}objective_args.{head}", args[head], cls, handled=("synchronized_bn",))
    backbone = dict(recipe.get("backbone") or {})
    if backbone.get("name") in backbones.BACKBONES:
        name = backbone.pop("name")
        _check_keys(f"{where}backbone", backbone, backbones.BACKBONES[name])
    spec = recipe.get("augment")
    if spec and spec.get("kind") in ("simclr", "multicrop"):
        target = augment.SimCLRAugment if spec["kind"] == "simclr" else augment.MultiCrop
        handled = ("kind", "recipe", "crop_area", "local_size", "global_area", "local_area", "local_blur_prob",
                   "local_solarize_prob")
        _check_keys(f"{where}augment", spec, target, handled=handled)
    elif spec and spec.get("kind") == "clip_affine":
        _check_keys(f"{where}augment", spec, augment.ClipAffine, handled=("kind",))
