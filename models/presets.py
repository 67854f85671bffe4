"""Named, complete training configurations ("presets"): typed `Recipe`s.

A preset names the objective and its arguments, the backbone, the data, the
augmentation, the batch, the optimizer with its learning-rate scaling, the
schedule, the epoch budget and the `source` it follows (`sslzoo.models.recipe`).
`sslzoo.models.factory` turns one into objects; `sslzoo-train --preset=NAME`
trains it, flags override single fields (`Recipe.replace`), and
`sslzoo-train --preset=NAME --show` prints it fully resolved.

- `*_digits`, `clip_digits`, `mmv_avdigits`: small encoders tuned for the bundled
  digits (4,000 training images), each pre-training in minutes on 2 CPU cores.
  They are not published recipes; their `source` says so.
- `*_cifar10`: solo-learn's CIFAR-10 configs (vturrisi/solo-learn
  scripts/pretrain/cifar/<method>.yaml with the augmentation file it names and
  the defaults of solo/args/pretrain.py and solo/methods/base.py: learning rate
  times batch / 256, SGD and LARS momentum 0.9, warmup_cosine with 10 warmup
  epochs to 0).
- `*_imagenet`: the official code's reference commands (the file in `source`).

Every preset's `notes` lists what the source does that a recipe cannot express.
tests/test_presets.py compares each published preset with the values written out
from its source; docs/PRESETS.md lists what changed and why.

Learning rates are given as `base_learning_rate` with a `scaling` rule applied
to the global batch (`sslzoo.optimizers.scaled_learning_rate`): "linear" is
`base * batch / 256`, "sqrt" is `base * sqrt(batch)`, None uses it as is.
"""
import copy

from sslzoo.data import captions
from sslzoo.models.recipe import Recipe, RecipeError

DIGITS_SOURCE = ("sslzoo digits recipe: tuned on the bundled digits for 2 CPU cores; not a published recipe")

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
    "source": DIGITS_SOURCE,
}

# solo-learn: scripts/pretrain/cifar/*.yaml. Every LARS config there has
# `kwargs: {clip_lr: True, eta: 0.02, exclude_bias_n_norm: True}` (exclude_bias_n_norm is
# sslzoo LARS's default rule: rank <= 1 variables skip decay and adaptation).
_SOLO = "vturrisi/solo-learn scripts/pretrain/cifar/"
_SOLO_LARS = {"name": "lars", "scaling": "linear", "momentum": 0.9, "eta": 0.02, "clip_lr": True}
_SOLO_SGD = {"name": "sgd_l2", "scaling": "linear", "momentum": 0.9}  # torch.optim.SGD, momentum 0.9 (parse_cfg)
_SOLO_NOTES = ("solo-learn warms up from 3e-5 (warmup_start_lr), sslzoo from 0; solo-learn's LARS trust ratio "
               "divides by ||g|| + wd ||w||, sslzoo's by ||g + wd w||; colour jitter is one strength s "
               "(brightness, contrast, saturation 0.8 s, hue 0.2 s).")
_CIFAR_COMMON = {
    "task": "image",
    "dataset": "cifar10",
    "image_size": 32,
    "backbone": {"name": "resnet18", "stem": "cifar", "width": 1.0},
    "batch_size": 256,
    "epochs": 1000,
    "schedule": {"warmup_epochs": 10},
    "notes": _SOLO_NOTES,
}
_CIFAR_STEPS_PER_EPOCH = 50000 // 256  # 195: solo-learn's loader drops the last partial batch
_IMAGENET_COMMON = {
    "task": "image",
    "dataset": "imagenet2012",
    "image_size": 224,
    "backbone": {"name": "resnet50", "stem": "imagenet", "width": 1.0},
    "schedule": {"warmup_epochs": 10},
}


def _recipe(base, **fields):
    data = copy.deepcopy(base)
    data.update(copy.deepcopy(fields))
    return data


_DEFINITIONS = {
    # ------------------------------------------------------------- digits
    "simclr_digits": _recipe(
        _DIGITS_COMMON, objective="simclr",
        objective_args={"temperature": 0.2, "projector": {"hidden_dims": [256], "output_dim": 64}},
    ),
    "moco_v2_digits": _recipe(
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
    "moco_v3_digits": _recipe(
        _DIGITS_COMMON, objective="moco_v3",
        objective_args={"temperature": 0.2, "momentum": 0.99,
                        "projector": {"hidden_dims": [512, 512], "output_dim": 128, "last_bn": True,
                                      "last_bn_affine": False},
                        "predictor": {"hidden_dim": 512, "output_dim": 128}},
    ),
    "barlow_twins_digits": _recipe(
        _DIGITS_COMMON, objective="barlow_twins",
        objective_args={"lambd": 5e-3, "projector": {"hidden_dims": [512, 512], "output_dim": 512,
                                                     "last_bn": True, "last_bn_affine": False}},
        # LARS at SimCLR's 1.0 (the common one): 0.3 gave 0.970 linear / 0.926 kNN, 1.0 0.976 / 0.956.
    ),
    "swav_digits": _recipe(
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
    # ------------------------------------------------------------ CIFAR-10 (solo-learn)
    "simclr_cifar10": _recipe(
        _CIFAR_COMMON, objective="simclr",
        augment={"kind": "simclr", "recipe": "solo_symmetric"},
        # solo/methods/simclr.py projector: Linear -> ReLU -> Linear (no batch norm).
        objective_args={"temperature": 0.2,
                        "projector": {"hidden_dims": [2048], "output_dim": 256, "use_bn": False}},
        optimizer={**_SOLO_LARS, "base_learning_rate": 0.4, "weight_decay": 1e-4},
        source=_SOLO + "simclr.yaml (augmentations/symmetric.yaml)",
    ),
    "moco_v2_cifar10": _recipe(
        _CIFAR_COMMON, objective="moco_v2",
        augment={"kind": "simclr", "recipe": "solo_symmetric_weak"},
        objective_args={"temperature": 0.2, "momentum": 0.99, "queue_size": 32768,
                        "symmetric": True, "projector": {"hidden_dims": [2048], "output_dim": 256, "use_bn": False}},
        optimizer={**_SOLO_SGD, "base_learning_rate": 0.3, "weight_decay": 1e-4},
        source=_SOLO + "mocov2plus.yaml (augmentations/symmetric_weak.yaml)",
        notes=_SOLO_NOTES + " mocov2plus.yaml raises the key-encoder momentum from base_tau 0.99 to "
              "final_tau 0.999 on a cosine; MoCoV2 keeps 0.99 (its cosine schedule ends at 1, not 0.999).",
    ),
    "barlow_twins_cifar10": _recipe(
        _CIFAR_COMMON, objective="barlow_twins",
        augment={"kind": "simclr", "recipe": "solo_asymmetric"},
        objective_args={"lambd": 0.0051, "scale_loss": 0.1,
                        "projector": {"hidden_dims": [2048, 2048], "output_dim": 2048,
                                      "last_bn": True, "last_bn_affine": False}},
        optimizer={**_SOLO_LARS, "base_learning_rate": 0.3, "weight_decay": 1e-4},
        source=_SOLO + "barlow.yaml (augmentations/asymmetric.yaml; lamb 0.0051, solo/methods/barlow_twins.py)",
    ),
    "swav_cifar10": _recipe(
        _CIFAR_COMMON, objective="swav",
        # symmetric.yaml: two 32 px crops (num_crops 2), no small crops.
        augment={"kind": "multicrop", "recipe": "solo_symmetric", "num_local": 0, "global_area": (0.08, 1.0)},
        objective_args={"num_prototypes": 3000, "temperature": 0.1, "epsilon": 0.05, "sinkhorn_iterations": 3,
                        "freeze_prototypes_steps": 2 * _CIFAR_STEPS_PER_EPOCH,  # freeze_prototypes_epochs 2
                        "queue_length": 3840, "queue_start_step": 50 * _CIFAR_STEPS_PER_EPOCH,  # epoch 50
                        "projector": {"hidden_dims": [2048], "output_dim": 128}},
        optimizer={**_SOLO_LARS, "base_learning_rate": 0.6, "weight_decay": 1e-6},
        source=_SOLO + "swav.yaml (augmentations/symmetric.yaml; sk_epsilon 0.05, sk_iters 3: solo/methods/swav.py)",
    ),
    # ------------------------------------------------------------ ImageNet
    "simclr_imagenet": _recipe(
        _IMAGENET_COMMON, objective="simclr", batch_size=4096, epochs=100,
        augment={"kind": "simclr", "recipe": "imagenet"},
        objective_args={"temperature": 0.1, "projector": {"hidden_dims": [2048], "output_dim": 128}},
        optimizer={"name": "lars", "base_learning_rate": 0.3, "scaling": "linear", "momentum": 0.9,
                   "weight_decay": 1e-6, "eta": 0.001},
        source="google-research/simclr README (SimCLRv1 ResNet-50 pretrain command: batch 4096, 100 epochs, "
               "learning_rate 0.3 linear, weight_decay 1e-6, temperature 0.1) and Chen et al. 2020 appendix B.1",
    ),
    "moco_v2_imagenet": _recipe(
        _IMAGENET_COMMON, objective="moco_v2", batch_size=256, epochs=200, schedule={"warmup_epochs": 0},
        augment={"kind": "simclr", "recipe": "mocov2_aug_plus"},
        objective_args={"temperature": 0.2, "momentum": 0.999, "queue_size": 65536, "symmetric": False,
                        "projector": {"hidden_dims": [2048], "output_dim": 128, "use_bn": False}},
        optimizer={"name": "sgd_l2", "base_learning_rate": 0.03, "scaling": "linear", "momentum": 0.9,
                   "weight_decay": 1e-4},
        source="facebookresearch/moco main_moco.py (defaults: lr 0.03, batch 256, momentum 0.9, wd 1e-4, "
               "200 epochs, moco-k 65536, moco-m 0.999, moco-dim 128) with README's MoCo v2 flags "
               "--mlp --moco-t 0.2 --aug-plus --cos",
        notes="main_moco.py's --cos sets the rate once per epoch (lr * 0.5 * (1 + cos(pi * epoch / epochs))); "
              "sslzoo decays it every step. Its shuffling BN is MoCoV2's batch-norm choice (see models/moco_v2.py).",
    ),
    "moco_v3_imagenet": _recipe(
        _IMAGENET_COMMON, objective="moco_v3", batch_size=4096, epochs=100,
        # --crop-min=.2 over main_moco.py's BYOL-style augmentation1 / augmentation2.
        augment={"kind": "simclr", "recipe": "byol_imagenet", "crop_area": (0.2, 1.0)},
        # momentum 0.99 -> 1 on a half cosine (--moco-m-cos): MoCoV3's default schedule over the run.
        # builder.py MoCo_ResNet: 2-layer projector 2048-4096-256 (last BN without affine),
        # 2-layer predictor 256-4096-256 (no last BN); every Linear without bias.
        objective_args={"temperature": 1.0, "momentum": 0.99,
                        "projector": {"hidden_dims": [4096], "output_dim": 256, "last_bn": True,
                                      "last_bn_affine": False, "output_bias": False},
                        "predictor": {"hidden_dim": 4096, "output_dim": 256, "output_bias": False}},
        optimizer={"name": "lars", "base_learning_rate": 0.6, "scaling": "linear", "momentum": 0.9,
                   "weight_decay": 1e-6, "eta": 0.001},
        source="facebookresearch/moco-v3 CONFIG.md (ResNet-50, 100-epoch: --moco-m-cos --crop-min=.2) over "
               "main_moco.py defaults (lars, lr 0.6, wd 1e-6, momentum 0.9, batch 4096, warmup 10, "
               "moco-m 0.99, moco-t 1.0, moco-dim 256, moco-mlp-dim 4096) and moco/builder.py MoCo_ResNet",
        notes="The ResNet-50 is built with zero_init_residual=True in main_moco.py; sslzoo's resnet50 "
              "initialises the last BN gamma of each block to 1.",
    ),
    "barlow_twins_imagenet": _recipe(
        _IMAGENET_COMMON, objective="barlow_twins", batch_size=2048, epochs=1000,
        schedule={"warmup_epochs": 10, "end_fraction": 0.001},
        augment={"kind": "simclr", "recipe": "byol_imagenet"},
        objective_args={"lambd": 0.0051, "projector": {"hidden_dims": [8192, 8192], "output_dim": 8192,
                                                       "last_bn": True, "last_bn_affine": False}},
        # --learning-rate-weights 0.2, --learning-rate-biases 0.0048: biases and BN at 0.024 x the rate.
        optimizer={"name": "lars", "base_learning_rate": 0.2, "scaling": "linear", "momentum": 0.9,
                   "weight_decay": 1e-6, "eta": 0.001, "excluded_learning_rate_factor": 0.0048 / 0.2},
        source="facebookresearch/barlowtwins main.py (argparse defaults: batch 2048, 1000 epochs, "
               "learning-rate-weights 0.2, learning-rate-biases 0.0048, weight-decay 1e-6, lambd 0.0051, "
               "projector 8192-8192-8192; adjust_learning_rate: 10 warmup epochs, cosine to 0.001 x base; "
               "LARS eta 0.001 with weight_decay_filter and lars_adaptation_filter; Transform)",
        notes="Transform's ColorJitter(0.4, 0.4, 0.2, 0.1) is taken as strength 0.5 (saturation 0.4); "
              "crops resize bicubically in main.py, bilinearly here.",
    ),
    "swav_imagenet": _recipe(
        _IMAGENET_COMMON, objective="swav", batch_size=4096, epochs=800,
        schedule={"warmup_epochs": 10, "end_fraction": 0.001},  # --final_lr 0.0048 of --base_lr 4.8
        augment={"kind": "multicrop", "recipe": "imagenet", "num_local": 6, "local_size": 96},  # 2x224 + 6x96
        objective_args={"num_prototypes": 3000, "temperature": 0.1, "epsilon": 0.05, "sinkhorn_iterations": 3,
                        "freeze_prototypes_steps": 313, "queue_length": 0,
                        "projector": {"hidden_dims": [2048], "output_dim": 128}},
        optimizer={"name": "lars", "base_learning_rate": 0.3, "scaling": "linear", "momentum": 0.9,
                   "weight_decay": 1e-6, "eta": 0.001},
        source="facebookresearch/swav scripts/swav_800ep_pretrain.sh (64 GPUs x batch 64, base_lr 4.8, "
               "final_lr 0.0048, wd 1e-6, warmup 10 epochs, 800 epochs, crops 2x224 (0.14, 1) + 6x96 "
               "(0.05, 0.14), epsilon 0.05, 3000 prototypes, feat_dim 128, freeze_prototypes_niters 313, "
               "queue_length 0) and main_swav.py (SGD momentum 0.9 under LARC trust 0.001, hidden_mlp 2048)",
        notes="main_swav.py warms up linearly from --start_warmup 0.3, sslzoo from 0; apex LARC adapts every "
              "parameter (biases and BN too) and divides by ||g|| + wd ||w||, while sslzoo's LARS excludes "
              "rank-1 variables from decay and adaptation.",
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
        "source": DIGITS_SOURCE + " (CLIP's loss and learnable temperature as Radford et al. 2021)",
        "notes": "AdamW decays every variable but the log-scale (CLIP.compile excludes it); the paper also "
                 "exempts gains and biases, which a recipe cannot name.",
    },
    # ------------------------------------- non-contrastive: BYOL, SimSiam, VICReg, DINO
    # The digits presets copy simclr_digits' data and schedule with heads scaled to the
    # 0.25-wide ResNet-18 (F = 128); they are NOT tuned yet (no 3-seed runs).
    "byol_digits": _recipe(
        _DIGITS_COMMON, objective="byol",
        # 420 steps in all: a target averaging over ~10 steps (0.9 -> 1 on BYOL's cosine), as
        # moco_v2_digits' key encoder; 0.99 (BYOL's CIFAR value) gave 0.868 linear.
        epochs=28,  # the target's forward passes make a step ~1.25x SimCLR's
        objective_args={"momentum": 0.9, "projector": {"hidden_dims": [512], "output_dim": 128},
                        "predictor": {"hidden_dim": 512, "output_dim": 128}},
        source=DIGITS_SOURCE + ", heads as BYOL's scaled to F = 128",
    ),
    "simsiam_digits": _recipe(
        _DIGITS_COMMON, objective="simsiam",
        objective_args={"projector": {"hidden_dims": [512, 512], "output_dim": 512, "last_bn": True,
                                      "last_bn_affine": False},
                        "predictor": {"hidden_dim": 128, "output_dim": 512}},
        # Chosen on the validation split (seed 0): LARS 1.0 0.922, 2.0 0.944 (SGD 0.05 x B/256, SimSiam's
        # ImageNet rate, was the untuned start).
        optimizer={"name": "lars", "base_learning_rate": 2.0, "scaling": "linear", "weight_decay": 1e-5},
        source=DIGITS_SOURCE + ", LARS as the other digits presets",
    ),
    "vicreg_digits": _recipe(
        _DIGITS_COMMON, objective="vicreg",
        objective_args={"invariance": 25.0, "variance": 25.0, "covariance": 1.0,
                        "expander": {"hidden_dims": [512, 512], "output_dim": 512}},
        # Chosen on the validation split (seed 0): LARS 0.3 -> 1.0 as barlow_twins_digits; 30 -> 40 epochs
        # (validation linear 0.976 both, validation kNN 0.956 -> 0.968; 40 epochs stay under 10 minutes).
        epochs=40,
        source=DIGITS_SOURCE + ", LARS 1.0 as the other digits presets",
    ),
    "dino_digits": _recipe(
        _DIGITS_COMMON, objective="dino",
        augment={"kind": "multicrop", "recipe": "digits", "num_local": 2, "crop_area": (0.5, 1.0)},
        # 4,000 images / 256 = 15 steps an epoch: the last layer is frozen for the first epoch.
        epochs=14,  # 4 crops a step, as swav_digits
        objective_args={"momentum": 0.95, "teacher_temp": 0.04, "warmup_teacher_temp": 0.04,
                        "freeze_last_layer_steps": 15,
                        "head": {"hidden_dim": 512, "bottleneck_dim": 128, "output_dim": 1024, "use_bn": True}},
        source=DIGITS_SOURCE + ", multicrop as swav_digits",
    ),
    "dino_vit_digits": _recipe(
        _DIGITS_COMMON, objective="dino", backbone={"name": "vit_digits"},
        augment={"kind": "multicrop", "recipe": "digits", "num_local": 2, "crop_area": (0.5, 1.0)},
        # dino_digits with the ViT settings of main_dino.py: no BN in the head, AdamW 5e-4 x B/256,
        # weight decay 0.04 (its starting value), clip_grad 3.0.
        objective_args={"momentum": 0.99, "teacher_temp": 0.04, "warmup_teacher_temp": 0.04,
                        "freeze_last_layer_steps": 15,
                        "head": {"hidden_dim": 512, "bottleneck_dim": 64, "output_dim": 1024, "use_bn": False}},
        optimizer={"name": "adamw", "base_learning_rate": 5e-4, "scaling": "linear", "weight_decay": 0.04,
                   "clipnorm": 3.0},
        source="sslzoo digits recipe: not a published recipe (untuned); vit_digits (patch 4, width 64, 4 blocks) "
               "with main_dino.py's ViT defaults (adamw, lr 5e-4 x B/256, wd 0.04, clip_grad 3.0, "
               "use_bn_in_head False)",
        notes="main_dino.py raises the weight decay from 0.04 to 0.4 on a cosine and exempts biases, norms, "
              "the [CLS] token and the position embedding from it; its student drops paths at 0.1 "
              "(dino_vit_small_imagenet does), this 4-block digits ViT does not.",
    ),
    "byol_cifar10": _recipe(
        _CIFAR_COMMON, objective="byol", augment={"kind": "simclr", "recipe": "solo_asymmetric"},
        # base_tau 0.99 -> final_tau 1.0 on a cosine: BYOL's default schedule over the run.
        objective_args={"momentum": 0.99, "projector": {"hidden_dims": [4096], "output_dim": 256},
                        "predictor": {"hidden_dim": 4096, "output_dim": 256}},
        optimizer={**_SOLO_LARS, "base_learning_rate": 1.0, "weight_decay": 1e-5},
        source=_SOLO + "byol.yaml (augmentations/asymmetric.yaml)",
    ),
    "simsiam_cifar10": _recipe(
        _CIFAR_COMMON, objective="simsiam", augment={"kind": "simclr", "recipe": "solo_symmetric_weak"},
        objective_args={"projector": {"hidden_dims": [2048, 2048], "output_dim": 2048, "last_bn": True,
                                      "last_bn_affine": False},
                        "predictor": {"hidden_dim": 512, "output_dim": 2048}},
        optimizer={**_SOLO_SGD, "base_learning_rate": 0.5, "weight_decay": 1e-5},
        source=_SOLO + "simsiam.yaml (augmentations/symmetric_weak.yaml)",
    ),
    "vicreg_cifar10": _recipe(
        _CIFAR_COMMON, objective="vicreg",
        # vicreg.yaml's own augmentations: crop (0.2, 1), ColorJitter(0.4, 0.4, 0.2, 0.1) p 0.8,
        # greyscale 0.2, no blur, solarization 0.1 on both views.
        augment={"kind": "simclr", "recipe": "solo_asymmetric", "crop_area": (0.2, 1.0), "solarize_prob": 0.1},
        objective_args={"invariance": 25.0, "variance": 25.0, "covariance": 1.0,
                        "expander": {"hidden_dims": [2048, 2048], "output_dim": 2048}},
        optimizer={**_SOLO_LARS, "base_learning_rate": 0.3, "weight_decay": 1e-4},
        source=_SOLO + "vicreg.yaml (sim/var/cov weights 25/25/1, proj 2048, LARS 0.3, wd 1e-4)",
    ),
    "dino_cifar10": _recipe(
        _CIFAR_COMMON, objective="dino", augment={"kind": "simclr", "recipe": "solo_asymmetric"},
        # solo-learn's CIFAR DINO trains on 2 crops; 195 steps = its first epoch (freeze_last_layer 1).
        objective_args={"momentum": 0.9995, "student_temp": 0.1, "teacher_temp": 0.07,
                        "warmup_teacher_temp": 0.04, "warmup_teacher_temp_steps": 0,
                        "freeze_last_layer_steps": _CIFAR_STEPS_PER_EPOCH,
                        "head": {"hidden_dim": 2048, "bottleneck_dim": 256, "output_dim": 4096}},
        optimizer={**_SOLO_LARS, "base_learning_rate": 0.3, "weight_decay": 1e-6},
        source=_SOLO + "dino.yaml (augmentations/asymmetric.yaml) and solo/methods/dino.py defaults",
    ),
    "byol_imagenet": _recipe(
        _IMAGENET_COMMON, objective="byol", batch_size=4096, epochs=1000,
        augment={"kind": "simclr", "recipe": "byol_imagenet"},
        objective_args={"momentum": 0.996, "projector": {"hidden_dims": [4096], "output_dim": 256},
                        "predictor": {"hidden_dim": 4096, "output_dim": 256}},
        optimizer={"name": "lars", "base_learning_rate": 0.2, "scaling": "linear", "momentum": 0.9,
                   "weight_decay": 1.5e-6, "eta": 0.001},
        source="Grill et al. 2020, Sec. 3.2, App. B (augmentations, table 6) and App. C (LARS 0.2 x B/256, "
               "wd 1.5e-6, 10 warmup epochs, tau 0.996 -> 1, 1000 epochs, batch 4096)",
    ),
    "simsiam_imagenet": _recipe(
        _IMAGENET_COMMON, objective="simsiam", batch_size=512, epochs=100, schedule={"warmup_epochs": 0},
        augment={"kind": "simclr", "recipe": "mocov2_aug_plus"},
        objective_args={"projector": {"hidden_dims": [2048, 2048], "output_dim": 2048, "last_bn": True,
                                      "last_bn_affine": False},
                        "predictor": {"hidden_dim": 512, "output_dim": 2048}},
        optimizer={"name": "sgd_l2", "base_learning_rate": 0.05, "scaling": "linear", "momentum": 0.9,
                   "weight_decay": 1e-4},
        source="facebookresearch/simsiam main_simsiam.py and Chen & He 2021 Sec. 4 (SGD 0.05 x B/256, "
               "momentum 0.9, wd 1e-4, batch 512, 100 epochs, MoCo v2's augmentation)",
        notes="main_simsiam.py --fix-pred-lr keeps the predictor at the base rate; a recipe has one schedule.",
    ),
    "vicreg_imagenet": _recipe(
        _IMAGENET_COMMON, objective="vicreg", batch_size=2048, epochs=1000,
        schedule={"warmup_epochs": 10, "end_fraction": 0.001},  # adjust_learning_rate: end_lr = base_lr * 0.001
        augment={"kind": "simclr", "recipe": "byol_imagenet"},
        objective_args={"invariance": 25.0, "variance": 25.0, "covariance": 1.0,
                        "expander": {"hidden_dims": [8192, 8192], "output_dim": 8192}},
        optimizer={"name": "lars", "base_learning_rate": 0.2, "scaling": "linear", "momentum": 0.9,
                   "weight_decay": 1e-6, "eta": 0.001},
        source="facebookresearch/vicreg main_vicreg.py (--mlp 8192-8192-8192 --base-lr 0.2 --wd 1e-6, "
               "1000 epochs, batch 2048; adjust_learning_rate: 10 warmup epochs, cosine to 0.001 x base) and "
               "augmentations.py TrainTransform (blur 1.0 / 0.1, solarize 0 / 0.2)",
    ),
    "dino_vit_small_imagenet": _recipe(
        _IMAGENET_COMMON, objective="dino", batch_size=512, epochs=100,
        # The README's ViT-S/16 command (8 GPUs x --batch_size_per_gpu 64) over main_dino.py's defaults.
        backbone={"name": "vit_small", "patch_size": 16, "drop_path": 0.1},
        augment={"kind": "multicrop", "recipe": "imagenet", "num_local": 8, "local_size": 96,
                 "global_area": (0.4, 1.0), "local_area": (0.05, 0.4)},
        # 2502 steps = one epoch at batch 512 (--freeze_last_layer 1).
        objective_args={"momentum": 0.996, "student_temp": 0.1, "teacher_temp": 0.04,
                        "warmup_teacher_temp": 0.04, "warmup_teacher_temp_steps": 0,
                        "center_momentum": 0.9, "freeze_last_layer_steps": 2502,
                        "head": {"hidden_dim": 2048, "bottleneck_dim": 256, "output_dim": 65536, "use_bn": False}},
        optimizer={"name": "adamw", "base_learning_rate": 5e-4, "scaling": "linear", "weight_decay": 0.04,
                   "clipnorm": 3.0},
        # --min_lr 1e-6 at the end of the cosine: 1e-6 / (5e-4 x 512 / 256) = 1e-3 of the peak.
        schedule={"warmup_epochs": 10, "end_fraction": 1e-3},
        source="facebookresearch/dino README (ViT-S/16, 100 epochs: main_dino.py --arch vit_small) and main_dino.py "
               "defaults (patch 16, drop_path_rate 0.1, adamw lr 5e-4 x B/256, wd 0.04, clip_grad 3.0, "
               "out_dim 65536, use_bn_in_head False, teacher 0.996, temps 0.1 / 0.04, crops (0.4, 1) / "
               "(0.05, 0.4), 8 local, freeze_last_layer 1, min_lr 1e-6)",
        notes="main_dino.py raises the weight decay from 0.04 to 0.4 on a cosine (sslzoo: fixed 0.04), exempts "
              "biases, norms, the [CLS] token and the position embedding from it, and trains in fp16; the "
              "teacher has no stochastic depth (MomentumSSLModel.teacher).",
    ),
    "dino_imagenet": _recipe(
        _IMAGENET_COMMON, objective="dino", batch_size=1024, epochs=100,
        # 2 x 224 global (0.14, 1) + 8 x 96 local (0.05, 0.14): the README's ResNet-50 crop scales.
        augment={"kind": "multicrop", "recipe": "imagenet", "num_local": 8, "local_size": 96,
                 "global_area": (0.14, 1.0), "local_area": (0.05, 0.14)},
        # 1251 steps = one epoch at batch 1024 (last layer frozen).
        objective_args={"momentum": 0.996, "student_temp": 0.1, "teacher_temp": 0.04,
                        "warmup_teacher_temp": 0.04, "warmup_teacher_temp_steps": 0,
                        "center_momentum": 0.9, "freeze_last_layer_steps": 1251,
                        "head": {"hidden_dim": 2048, "bottleneck_dim": 256, "output_dim": 65536}},
        # utils.py: torch.optim.SGD(params_groups, lr=0, momentum=0.9); --clip_grad 3.0 clips each
        # parameter's gradient norm (Keras clipnorm is per variable too).
        optimizer={"name": "sgd_l2", "base_learning_rate": 0.03, "scaling": "linear", "momentum": 0.9,
                   "weight_decay": 1e-4, "clipnorm": 3.0},
        source="facebookresearch/dino README (ResNet-50 command: sgd lr 0.03, wd 1e-4, crops 0.14) and "
               "main_dino.py defaults (out_dim 65536, teacher 0.996, temps 0.1 / 0.04, center 0.9, clip_grad 3.0)",
        notes="main_dino.py decays no bias or norm parameter (get_params_groups) and ends the cosine at "
              "min_lr 1e-6; sgd_l2 decays every variable and the schedule ends at 0.",
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
        "source": "sslzoo AV-digits recipe: tuned on the bundled AV-digits for 2 CPU cores; not a published "
                  "recipe (the objective follows Alayrac et al. 2020, MMV: FAC heads, NCE + MIL-NCE, tau 0.07, "
                  "Adam with warmup and cosine)",
    },
}

PRESETS = {name: Recipe.from_dict({**fields, "name": name}) for name, fields in _DEFINITIONS.items()}


def names():
    """Sorted names of every preset."""
    return sorted(PRESETS)


def get(name, **overrides):
    """Preset `name` (a `Recipe`, independent of `PRESETS`) with fields replaced by `overrides`.

    Raises:
      ValueError: unknown preset (the message lists the known ones).
      RecipeError (a TypeError and a ValueError): unknown field, or a field given a
        value of another type; the message names the field and the type.
    """
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}. Known presets: {', '.join(names())}")
    return PRESETS[name].replace(**{"name": name, **overrides})


def to_json(preset):
    """The preset as JSON text (`Recipe.to_json`; a dict is made a `Recipe` first)."""
    return as_recipe(preset).to_json()


def from_json(text):
    """A `Recipe` from JSON text: a whole recipe (`to_json`'s or `--show`'s output), or an
    object whose `name` names a preset and whose other fields replace that preset's."""
    import json

    try:
        fields = json.loads(text)
    except json.JSONDecodeError as error:
        raise RecipeError(f"recipe JSON does not parse: {error}") from None
    if not isinstance(fields, dict):
        raise RecipeError(f"recipe JSON must be an object, got {type(fields).__name__}")
    name = fields.get("name")
    if name in PRESETS:
        merged = PRESETS[name].to_dict()
        for key, value in fields.items():
            merged[key] = value
        return Recipe.from_dict(merged)
    return Recipe.from_dict(fields)


def as_recipe(preset):
    """`preset` as a `Recipe`: a Recipe as is, a mapping checked and converted."""
    return preset if isinstance(preset, Recipe) else Recipe.from_dict(dict(preset))


__all__ = ["DIGITS_SOURCE", "PRESETS", "Recipe", "RecipeError", "as_recipe", "from_json", "get", "names",
           "to_json"]
