"""Named, complete training configurations ("presets"), kept as plain data.

A preset names the objective and its arguments, the backbone, the data, the
augmentation, the batch, the optimizer with its learning-rate scaling, the
schedule and the epoch budget. `sslzoo.models.factory` turns one into objects;
`sslzoo-train --preset=NAME` trains it, and flags override single fields.

- `*_digits`: small encoders tuned for the bundled 4,000 training digits, each
  pre-training in minutes on 2 CPU cores.
- `*_cifar10`, `*_imagenet`: the published recipes (solo-learn's CIFAR-10
  settings where the paper gives none; the papers' ImageNet settings).

Learning rates are given as `base_learning_rate` with a `scaling` rule applied
to the global batch (`sslzoo.optimizers.scaled_learning_rate`): "linear" is
`base * batch / 256`, "sqrt" is `base * sqrt(batch)`, None uses it as is.
"""
import copy
import json

from sslzoo.data import captions

_DIGITS_ENCODER = {"name": "resnet18", "stem": "cifar", "width": 0.25}
_DIGITS_COMMON = {
    "task": "image",
    "dataset": "digits",
    "image_size": 28,
    "backbone": _DIGITS_ENCODER,
    "augment": {"kind": "simclr", "recipe": "digits", "crop_area": (0.5, 1.0)},
    "batch_size": 256,
    "epochs": 30,
    "optimizer": {"name": "lars", "base_learning_rate": 1.0, "scaling": "linear", "weight_decay": 1e-5},
    "schedule": {"warmup_epochs": 2},
}
_CIFAR_COMMON = {
    "task": "image",
    "dataset": "cifar10",
    "image_size": 32,
    "backbone": {"name": "resnet18", "stem": "cifar", "width": 1.0},
    "augment": {"kind": "simclr", "recipe": "cifar"},
    "batch_size": 256,
    "epochs": 1000,
    "schedule": {"warmup_epochs": 10},
}
_IMAGENET_COMMON = {
    "task": "image",
    "dataset": "imagenet2012",
    "image_size": 224,
    "backbone": {"name": "resnet50", "stem": "imagenet", "width": 1.0},
    "augment": {"kind": "simclr", "recipe": "imagenet"},
    "schedule": {"warmup_epochs": 10},
}


def _preset(base, **fields):
    preset = copy.deepcopy(base)
    preset.update(copy.deepcopy(fields))
    return preset


PRESETS = {
    # ------------------------------------------------------------- digits
    "simclr_digits": _preset(
        _DIGITS_COMMON, objective="simclr",
        objective_args={"temperature": 0.2, "projector": {"hidden_dims": [256], "output_dim": 64}},
    ),
    "moco_v2_digits": _preset(
        _DIGITS_COMMON, objective="moco_v2",
        # The queue must stay well below the 4,000 training images, or each image's own
        # older key sits in it as a negative.
        # 420 steps in all: a key encoder averaging over ~10 steps (m = 0.9), not ~100.
        # LARS at 2.0: with BN in the projector, 0.3 gave 0.837, 1.0 0.970, 2.0 0.978.
        # BN in the projector (as SimCLR's): without it every embedding starts in one narrow
        # cone (positive cosine 0.9 at step 1 and the loss stuck near log(queue)).
        objective_args={"temperature": 0.2, "momentum": 0.9, "queue_size": 1024,
                        "symmetric": True, "projector": {"hidden_dims": [256], "output_dim": 64}},
        epochs=28,  # the key encoder's forward passes make a step ~1.25x SimCLR's
        optimizer={"name": "lars", "base_learning_rate": 2.0, "scaling": "linear", "weight_decay": 1e-5},
    ),
    "moco_v3_digits": _preset(
        _DIGITS_COMMON, objective="moco_v3",
        objective_args={"temperature": 0.2, "momentum": 0.99,
                        "projector": {"hidden_dims": [512, 512], "output_dim": 128, "last_bn": True,
                                      "last_bn_affine": False},
                        "predictor": {"hidden_dim": 512, "output_dim": 128}},
    ),
    "barlow_twins_digits": _preset(
        _DIGITS_COMMON, objective="barlow_twins",
        objective_args={"lambd": 5e-3, "projector": {"hidden_dims": [512, 512], "output_dim": 512,
                                                     "last_bn": True, "last_bn_affine": False}},
        # LARS at SimCLR's 1.0 (the common one): 0.3 gave 0.970 linear / 0.926 kNN, 1.0 0.976 / 0.956.
    ),
    "swav_digits": _preset(
        _DIGITS_COMMON, objective="swav",
        # 4 crops of 28 px a step (2 global, 2 local); 14 px local crops (2 + 6) reached 0.931.
        augment={"kind": "multicrop", "recipe": "digits", "num_local": 2, "crop_area": (0.5, 1.0)},
        epochs=14,  # 20 epochs at LARS 4.0: 0.959 (the mid-run rate stays higher for longer)
        # Sharper codes: at the paper's epsilon 0.05 (3,000 prototypes) 100 prototypes gave
        # codes of entropy ~4.0 of log(100) = 4.6 nats, near uniform; 0.0125 sped learning
        # up (online probe 0.79 -> 0.89 at epoch 6). No queue: with these codes it slowed
        # learning (probe 0.89 with, 0.92 without at epoch 6). LARS at 4.0: 1.0 gave 0.959,
        # 2.0 0.964, 4.0 0.978, 8.0 0.937 (linear probe after 14 epochs each).
        objective_args={"num_prototypes": 100, "temperature": 0.1, "epsilon": 0.0125,
                        "freeze_prototypes_steps": 15, "projector": {"hidden_dims": [256], "output_dim": 64}},
        optimizer={"name": "lars", "base_learning_rate": 4.0, "scaling": "linear", "weight_decay": 1e-6},
    ),
    # ------------------------------------------------------------ CIFAR-10
    "simclr_cifar10": _preset(
        _CIFAR_COMMON, objective="simclr",
        objective_args={"temperature": 0.2, "projector": {"hidden_dims": [2048], "output_dim": 256}},
        optimizer={"name": "lars", "base_learning_rate": 0.4, "scaling": "linear", "weight_decay": 1e-5},
    ),
    "moco_v2_cifar10": _preset(
        _CIFAR_COMMON, objective="moco_v2",
        objective_args={"temperature": 0.2, "momentum": 0.99, "queue_size": 32768,
                        "symmetric": True, "projector": {"hidden_dims": [2048], "output_dim": 256, "use_bn": False}},
        optimizer={"name": "sgd", "base_learning_rate": 0.3, "scaling": "linear", "weight_decay": 1e-4},
    ),
    "barlow_twins_cifar10": _preset(
        _CIFAR_COMMON, objective="barlow_twins",
        augment={"kind": "simclr", "recipe": "barlow_cifar"},
        objective_args={"lambd": 5.1e-3, "projector": {"hidden_dims": [2048, 2048], "output_dim": 2048,
                                                       "last_bn": True, "last_bn_affine": False}},
        optimizer={"name": "lars", "base_learning_rate": 0.3, "scaling": "linear", "weight_decay": 1e-4},
    ),
    "swav_cifar10": _preset(
        _CIFAR_COMMON, objective="swav",
        # 2 x 32 + 6 x 16 crops (the 224 / 96 ratio of the paper's ImageNet multi-crop).
        augment={"kind": "multicrop", "recipe": "cifar", "num_local": 6, "local_size": 16},
        objective_args={"num_prototypes": 3000, "temperature": 0.1, "epsilon": 0.05,
                        "freeze_prototypes_steps": 195, "projector": {"hidden_dims": [2048], "output_dim": 128}},
        optimizer={"name": "lars", "base_learning_rate": 0.6, "scaling": "linear", "weight_decay": 1e-6},
    ),
    # ------------------------------------------------------------ ImageNet
    "simclr_imagenet": _preset(
        _IMAGENET_COMMON, objective="simclr", batch_size=4096, epochs=100,
        objective_args={"temperature": 0.1, "projector": {"hidden_dims": [2048], "output_dim": 128}},
        optimizer={"name": "lars", "base_learning_rate": 0.3, "scaling": "linear", "weight_decay": 1e-6},
    ),
    "moco_v2_imagenet": _preset(
        _IMAGENET_COMMON, objective="moco_v2", batch_size=256, epochs=200, schedule={"warmup_epochs": 0},
        objective_args={"temperature": 0.2, "momentum": 0.999, "queue_size": 65536,
                        "projector": {"hidden_dims": [2048], "output_dim": 128, "use_bn": False}},
        optimizer={"name": "sgd", "base_learning_rate": 0.03, "scaling": "linear", "weight_decay": 1e-4},
    ),
    "moco_v3_imagenet": _preset(
        _IMAGENET_COMMON, objective="moco_v3", batch_size=4096, epochs=100,
        objective_args={"temperature": 1.0, "momentum": 0.99,
                        "projector": {"hidden_dims": [4096, 4096], "output_dim": 256, "last_bn": True,
                                      "last_bn_affine": False},
                        "predictor": {"hidden_dim": 4096, "output_dim": 256}},
        optimizer={"name": "lars", "base_learning_rate": 0.6, "scaling": "linear", "weight_decay": 1e-6},
    ),
    "barlow_twins_imagenet": _preset(
        _IMAGENET_COMMON, objective="barlow_twins", batch_size=2048, epochs=1000,
        augment={"kind": "simclr", "recipe": "barlow_imagenet"},
        objective_args={"lambd": 5.1e-3, "projector": {"hidden_dims": [8192, 8192], "output_dim": 8192,
                                                       "last_bn": True, "last_bn_affine": False}},
        optimizer={"name": "lars", "base_learning_rate": 0.2, "scaling": "linear", "weight_decay": 1.5e-6},
    ),
    "swav_imagenet": _preset(
        _IMAGENET_COMMON, objective="swav", batch_size=4096, epochs=800,
        augment={"kind": "multicrop", "recipe": "imagenet", "num_local": 6, "local_size": 96},  # 2x224 + 6x96
        objective_args={"num_prototypes": 3000, "temperature": 0.1, "epsilon": 0.05,
                        "freeze_prototypes_steps": 313, "projector": {"hidden_dims": [2048], "output_dim": 128}},
        optimizer={"name": "lars", "base_learning_rate": 0.3, "scaling": "linear", "weight_decay": 1e-6},
    ),
    # ------------------------------------------------------ image-text (CLIP)
    "clip_digits": {
        "task": "clip",
        "objective": "clip",
        "dataset": "digits",
        "image_size": 28,
        "backbone": {"name": "small_cnn", "widths": [32, 64, 128]},
        "text_encoder": {"name": "transformer", "width": 64, "depth": 2, "heads": 4},
        "sequence_length": 16,
        "vocabulary_size": 200,
        "embedding_dim": 64,
        "init_temperature": 0.07,
        "max_scale": 100.0,
        "templates": list(captions.TRAIN_TEMPLATES),
        "held_out_templates": list(captions.HELD_OUT_TEMPLATES),
        "numeral_fraction": 0.25,
        "epochs": 12,
        "batch_size": 128,
        "optimizer": {"name": "adamw", "base_learning_rate": 2e-3, "weight_decay": 1e-4},
        "schedule": {"warmup_epochs": 1},
    },
    # ------------------------------------- non-contrastive: BYOL, SimSiam, VICReg, DINO
    # The digits presets copy simclr_digits' data and schedule with heads scaled to the
    # 0.25-wide ResNet-18 (F = 128); they are NOT tuned yet (no 3-seed runs).
    "byol_digits": _preset(
        _DIGITS_COMMON, objective="byol",
        objective_args={"momentum": 0.99, "projector": {"hidden_dims": [512], "output_dim": 128},
                        "predictor": {"hidden_dim": 512, "output_dim": 128}},
        source="sslzoo digits recipe (untuned), heads as BYOL's scaled to F = 128",
    ),
    "simsiam_digits": _preset(
        _DIGITS_COMMON, objective="simsiam",
        objective_args={"projector": {"hidden_dims": [512, 512], "output_dim": 512, "last_bn": True,
                                      "last_bn_affine": False},
                        "predictor": {"hidden_dim": 128, "output_dim": 512}},
        optimizer={"name": "sgd", "base_learning_rate": 0.05, "scaling": "linear", "weight_decay": 1e-4},
        source="sslzoo digits recipe (untuned), SGD as SimSiam's ImageNet recipe",
    ),
    "vicreg_digits": _preset(
        _DIGITS_COMMON, objective="vicreg",
        objective_args={"invariance": 25.0, "variance": 25.0, "covariance": 1.0,
                        "expander": {"hidden_dims": [512, 512], "output_dim": 512}},
        optimizer={"name": "lars", "base_learning_rate": 0.3, "scaling": "linear", "weight_decay": 1e-5},
        source="sslzoo digits recipe (untuned), LARS 0.3 as solo-learn's CIFAR VICReg",
    ),
    "dino_digits": _preset(
        _DIGITS_COMMON, objective="dino",
        augment={"kind": "multicrop", "recipe": "digits", "num_local": 2, "crop_area": (0.5, 1.0)},
        # 4,000 images / 256 = 15 steps an epoch: the last layer is frozen for the first epoch.
        objective_args={"momentum": 0.99, "teacher_temp": 0.04, "warmup_teacher_temp": 0.04,
                        "freeze_last_layer_steps": 15,
                        "head": {"hidden_dim": 512, "bottleneck_dim": 128, "output_dim": 1024, "use_bn": True}},
        source="sslzoo digits recipe (untuned), multicrop as swav_digits",
    ),
    "byol_cifar10": _preset(
        _CIFAR_COMMON, objective="byol", augment={"kind": "simclr", "recipe": "barlow_cifar"},
        objective_args={"momentum": 0.99, "projector": {"hidden_dims": [4096], "output_dim": 256},
                        "predictor": {"hidden_dim": 4096, "output_dim": 256}},
        optimizer={"name": "lars", "base_learning_rate": 1.0, "scaling": "linear", "weight_decay": 1e-5},
        source="solo-learn scripts/pretrain/cifar/byol.yaml (tau 0.99 -> 1, LARS 1.0, wd 1e-5, 1000 epochs)",
    ),
    "simsiam_cifar10": _preset(
        _CIFAR_COMMON, objective="simsiam",
        objective_args={"projector": {"hidden_dims": [2048, 2048], "output_dim": 2048, "last_bn": True,
                                      "last_bn_affine": False},
                        "predictor": {"hidden_dim": 512, "output_dim": 2048}},
        optimizer={"name": "sgd", "base_learning_rate": 0.5, "scaling": "linear", "weight_decay": 1e-5},
        source="solo-learn scripts/pretrain/cifar/simsiam.yaml (SGD 0.5, wd 1e-5, proj 2048, pred 512)",
    ),
    "vicreg_cifar10": _preset(
        _CIFAR_COMMON, objective="vicreg",
        objective_args={"invariance": 25.0, "variance": 25.0, "covariance": 1.0,
                        "expander": {"hidden_dims": [2048, 2048], "output_dim": 2048}},
        optimizer={"name": "lars", "base_learning_rate": 0.3, "scaling": "linear", "weight_decay": 1e-4},
        source="solo-learn scripts/pretrain/cifar/vicreg.yaml (25/25/1, proj 2048, LARS 0.3, wd 1e-4)",
    ),
    "dino_cifar10": _preset(
        _CIFAR_COMMON, objective="dino", augment={"kind": "simclr", "recipe": "barlow_cifar"},
        # solo-learn's CIFAR DINO trains on 2 crops; 195 steps = its first epoch (freeze_last_layer 1).
        objective_args={"momentum": 0.9995, "student_temp": 0.1, "teacher_temp": 0.07,
                        "warmup_teacher_temp": 0.04, "warmup_teacher_temp_steps": 0,
                        "freeze_last_layer_steps": 195,
                        "head": {"hidden_dim": 2048, "bottleneck_dim": 256, "output_dim": 4096}},
        optimizer={"name": "lars", "base_learning_rate": 0.3, "scaling": "linear", "weight_decay": 1e-6},
        source="solo-learn scripts/pretrain/cifar/dino.yaml and solo/methods/dino.py defaults",
    ),
    "byol_imagenet": _preset(
        _IMAGENET_COMMON, objective="byol", batch_size=4096, epochs=1000,
        objective_args={"momentum": 0.996, "projector": {"hidden_dims": [4096], "output_dim": 256},
                        "predictor": {"hidden_dim": 4096, "output_dim": 256}},
        optimizer={"name": "lars", "base_learning_rate": 0.2, "scaling": "linear", "weight_decay": 1.5e-6},
        source="Grill et al. 2020, Sec. 3.2 and App. C (LARS 0.2 x B/256, wd 1.5e-6, tau 0.996, 1000 epochs)",
    ),
    "simsiam_imagenet": _preset(
        _IMAGENET_COMMON, objective="simsiam", batch_size=512, epochs=100, schedule={"warmup_epochs": 0},
        objective_args={"projector": {"hidden_dims": [2048, 2048], "output_dim": 2048, "last_bn": True,
                                      "last_bn_affine": False},
                        "predictor": {"hidden_dim": 512, "output_dim": 2048}},
        optimizer={"name": "sgd", "base_learning_rate": 0.05, "scaling": "linear", "weight_decay": 1e-4},
        source="facebookresearch/simsiam main_simsiam.py and Chen & He 2021 Sec. 4 (SGD 0.05 x B/256, wd 1e-4; "
               "the fixed-lr predictor is not expressed here)",
    ),
    "vicreg_imagenet": _preset(
        _IMAGENET_COMMON, objective="vicreg", batch_size=2048, epochs=1000,
        objective_args={"invariance": 25.0, "variance": 25.0, "covariance": 1.0,
                        "expander": {"hidden_dims": [8192, 8192], "output_dim": 8192}},
        optimizer={"name": "lars", "base_learning_rate": 0.2, "scaling": "linear", "weight_decay": 1e-6},
        source="facebookresearch/vicreg main_vicreg.py (--mlp 8192-8192-8192 --base-lr 0.2 --wd 1e-6, "
               "1000 epochs, batch 2048)",
    ),
    "dino_imagenet": _preset(
        _IMAGENET_COMMON, objective="dino", batch_size=1024, epochs=100,
        # 2 x 224 global (0.14, 1) + 8 x 96 local (0.05, 0.14): the README's ResNet-50 crop scales.
        augment={"kind": "multicrop", "recipe": "imagenet", "num_local": 8, "local_size": 96,
                 "global_area": (0.14, 1.0), "local_area": (0.05, 0.14)},
        # 1251 steps = one epoch at batch 1024 (last layer frozen); gradient clipping 3.0 is
        # the optimizer's job and not expressed here.
        objective_args={"momentum": 0.996, "student_temp": 0.1, "teacher_temp": 0.04,
                        "warmup_teacher_temp": 0.04, "warmup_teacher_temp_steps": 0,
                        "center_momentum": 0.9, "freeze_last_layer_steps": 1251,
                        "head": {"hidden_dim": 2048, "bottleneck_dim": 256, "output_dim": 65536}},
        optimizer={"name": "sgd", "base_learning_rate": 0.03, "scaling": "linear", "weight_decay": 1e-4},
        source="facebookresearch/dino README (ResNet-50 command: sgd lr 0.03, wd 1e-4, crops 0.14) and "
               "main_dino.py defaults (out_dim 65536, teacher 0.996, temps 0.1 / 0.04, center 0.9)",
    ),
    # ------------------------------------------- video-audio-text (MMV)
    "mmv_avdigits": {
        "task": "mmv",
        "objective": "mmv",
        "dataset": "avdigits",
        # 4 layers (receptive field 31 px, the whole 32 px canvas): 3 layers (15 px) learned digits slowly.
        "backbone": {"name": "small_video_cnn", "widths": [32, 64, 128, 256]},
        "audio_backbone": {"name": "small_audio_cnn", "widths": [32, 64, 128]},
        "text_encoder": {"embedding_dim": 64, "width": 256},
        "sequence_length": 16,
        "vocabulary_size": 200,
        "objective_args": {"heads": "fac", "va_dim": 128, "vat_dim": 64, "temperature": 0.07,
                           "lambda_va": 1.0, "lambda_vt": 1.0, "audio_dropout": 0.0, "text_dropout": 0.0},
        "train_clips": 4000,
        "eval_split": "test",
        # Validation after 6 epochs (4-layer video CNN): text->video R@1 0.947, audio->video 0.983, video probe
        # 0.821, zero-shot 0.785, all still rising with the loss: 10 epochs.
        "epochs": 10,
        "batch_size": 64,
        "optimizer": {"name": "adam", "base_learning_rate": 2e-3},
        "schedule": {"warmup_epochs": 1},
        "source": "Alayrac et al. 2020, MMV (FAC heads, NCE + MIL-NCE, tau 0.07, Adam with warmup and cosine), "
                  "scaled to the bundled AV-digits for 2 CPU cores",
    },
}


def names():
    """Sorted names of every preset."""
    return sorted(PRESETS)


def get(name, **overrides):
    """A deep copy of preset `name` with top-level fields replaced by `overrides`.

    Raises:
      ValueError: unknown preset (the message lists the known ones), unknown field,
        or a field given a value of another type than the preset's (an int where a
        dict belongs, say); the message names the field.
    """
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}. Known presets: {', '.join(names())}")
    preset = copy.deepcopy(PRESETS[name])
    for key, value in overrides.items():
        if key not in preset:
            raise ValueError(f"Preset {name!r} has no field {key!r}; fields: {', '.join(sorted(preset))}")
        _check_type(name, key, preset[key], value)
        preset[key] = copy.deepcopy(value)
    preset["name"] = name
    return preset


def _kind(value):
    """The JSON kind of `value`: number (int or float), string, bool, object, array or null."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, (list, tuple)):
        return "array"
    return "null" if value is None else type(value).__name__


def _check_type(name, field, current, value):
    if current is not None and _kind(current) != _kind(value):
        kind = _kind(current)
        article = "an" if kind[0] in "aeiou" else "a"
        raise ValueError(f"Preset {name!r} field {field!r} must be {article} {kind} like {current!r}, "
                         f"got {value!r} ({_kind(value)})")
    if field in ("epochs", "batch_size") and not (isinstance(value, int) and not isinstance(value, bool)
                                                  and value > 0):
        raise ValueError(f"Preset {name!r} field {field!r} must be a positive integer, got {value!r}")


def to_json(preset):
    """The preset as JSON text (tuples become lists)."""
    return json.dumps(preset, indent=2, sort_keys=True)


def from_json(text):
    """A preset from JSON text written by `to_json`: its `name` names the base preset, every
    other field replaces the base's and is checked as `get` checks overrides."""
    try:
        fields = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"preset JSON does not parse: {error}") from None
    if not isinstance(fields, dict) or "name" not in fields:
        raise ValueError("preset JSON must be an object with a 'name' field naming the base preset")
    name = fields.pop("name")
    return get(name, **fields)
