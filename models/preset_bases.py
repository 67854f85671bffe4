"""The shared parts of the presets (`sslzoo.models.presets`): the digits, solo-learn CIFAR-10 and
ImageNet bases each preset family starts from, and `derive` to copy one with fields replaced."""
import copy

DIGITS_SOURCE = ("sslzoo digits recipe: tuned on the bundled digits for 2 CPU cores; not a published recipe")

DIGITS_ENCODER = {"name": "resnet18", "stem": "cifar", "width": 0.25}
DIGITS_COMMON = {
    "task": "image",
    "dataset": "digits",
    "image_size": 28,
    "backbone": DIGITS_ENCODER,
    "augment": {"kind": "simclr", "recipe": "digits", "crop_area": (0.5, 1.0)},
    "batch_size": 256,
    "epochs": 30,
    "optimizer": {"name": "lars", "base_learning_rate": 1.0, "scaling": "linear", "weight_decay": 1e-5},
    "schedule": {"warmup_epochs": 2},
    "source": DIGITS_SOURCE,
}

# solo-learn: scripts/pretrain/cifar/*.yaml. Every LARS config there has
# `kwargs: {clip_lr: True, eta: 0.02, exclude_bias_n_norm: True}` (exclude_bias_n_norm is
# sslzoo LARS's default rule: rank <= 1 variables skip decay and adaptation).
SOLO = "vturrisi/solo-learn scripts/pretrain/cifar/"
SOLO_LARS = {"name": "lars", "scaling": "linear", "momentum": 0.9, "eta": 0.02, "clip_lr": True}
SOLO_SGD = {"name": "sgd_l2", "scaling": "linear", "momentum": 0.9}  # torch.optim.SGD, momentum 0.9 (parse_cfg)
SOLO_NOTES = ("solo-learn warms up from 3e-5 (warmup_start_lr), sslzoo from 0; solo-learn's LARS trust ratio "
               "divides by ||g|| + wd ||w||, sslzoo's by ||g + wd w||; colour jitter is one strength s "
               "(brightness, contrast, saturation 0.8 s, hue 0.2 s).")
CIFAR_COMMON = {
    "task": "image",
    "dataset": "cifar10",
    "image_size": 32,
    "backbone": {"name": "resnet18", "stem": "cifar", "width": 1.0},
    "batch_size": 256,
    "epochs": 1000,
    "schedule": {"warmup_epochs": 10},
    "notes": SOLO_NOTES,
}
CIFAR_STEPS_PER_EPOCH = 50000 // 256  # 195: solo-learn's loader drops the last partial batch
IMAGENET_COMMON = {
    "task": "image",
    "dataset": "imagenet2012",
    "image_size": 224,
    "backbone": {"name": "resnet50", "stem": "imagenet", "width": 1.0},
    "schedule": {"warmup_epochs": 10},
}


def derive(base, **fields):
    """A deep copy of the preset fields `base` with `fields` replaced."""
    data = copy.deepcopy(base)
    data.update(copy.deepcopy(fields))
    return data
