"""Presets of the non-contrastive objectives (BYOL, SimSiam, VICReg, DINO): digits (chosen on the
validation split), solo-learn CIFAR-10 and the official ImageNet recipes. Merged into
`sslzoo.models.presets.PRESETS`; see that module for the fields."""
from sslzoo.models.preset_bases import (CIFAR_COMMON, CIFAR_STEPS_PER_EPOCH, DIGITS_COMMON, DIGITS_SOURCE,
                                         IMAGENET_COMMON, SOLO, SOLO_LARS, SOLO_SGD, derive)

NON_CONTRASTIVE = {
    # ------------------------------------- non-contrastive: BYOL, SimSiam, VICReg, DINO
    # The digits presets start from simclr_digits' data and schedule with heads scaled to the
    # 0.25-wide ResNet-18 (F = 128); what was tried on the validation split is in docs/RESULTS.md.
    "byol_digits": derive(
        DIGITS_COMMON, objective="byol",
        # 420 steps in all: a target averaging over ~10 steps (0.9 -> 1 on BYOL's cosine), as
        # moco_v2_digits' key encoder; 0.99 (BYOL's CIFAR value) gave 0.868 linear.
        epochs=28,  # the target's forward passes make a step ~1.25x SimCLR's
        objective_args={"momentum": 0.9, "projector": {"hidden_dims": [512], "output_dim": 128},
                        "predictor": {"hidden_dim": 512, "output_dim": 128}},
        # Chosen on the validation split (seed 0): LARS 1.0 0.886, 2.0 0.922, 4.0 0.930.
        optimizer={"name": "lars", "base_learning_rate": 4.0, "scaling": "linear", "weight_decay": 1e-5},
        source=DIGITS_SOURCE + ", heads as BYOL's scaled to F = 128",
    ),
    "simsiam_digits": derive(
        DIGITS_COMMON, objective="simsiam",
        objective_args={"projector": {"hidden_dims": [512, 512], "output_dim": 512, "last_bn": True,
                                      "last_bn_affine": False},
                        "predictor": {"hidden_dim": 128, "output_dim": 512}},
        # Chosen on the validation split (seed 0): LARS 1.0 0.922, 2.0 0.944 (SGD 0.05 x B/256, SimSiam's
        # ImageNet rate, was the untuned start).
        optimizer={"name": "lars", "base_learning_rate": 2.0, "scaling": "linear", "weight_decay": 1e-5},
        source=DIGITS_SOURCE + ", LARS as the other digits presets",
    ),
    "vicreg_digits": derive(
        DIGITS_COMMON, objective="vicreg",
        # One batch norm over both views (joint_view_batch_norm): validation linear 0.976; each view alone (as
        # main_vicreg.py and the published presets) 0.966.
        objective_args={"invariance": 25.0, "variance": 25.0, "covariance": 1.0, "joint_view_batch_norm": True,
                        "expander": {"hidden_dims": [512, 512], "output_dim": 512}},
        # Chosen on the validation split (seed 0): LARS 0.3 -> 1.0 as barlow_twins_digits; 30 -> 40 epochs
        # (validation linear 0.976 both, validation kNN 0.956 -> 0.968; 40 epochs stay under 10 minutes).
        epochs=40,
        source=DIGITS_SOURCE + ", LARS 1.0 as the other digits presets",
    ),
    "dino_digits": derive(
        DIGITS_COMMON, objective="dino",
        # Chosen on the validation split (seed 0): 2 + 2 crops of 28 px for 14 epochs 0.858, 2 crops (as
        # solo-learn's CIFAR DINO) for 28 epochs 0.858, the same at LARS 2.0 0.902, at LARS 4.0 0.944 (kept).
        epochs=28,  # the teacher's forward passes make a step ~1.25x SimCLR's
        # 4,000 images / 256 = 15 steps an epoch: the last layer is frozen for the first epoch.
        objective_args={"momentum": 0.95, "teacher_temp": 0.04, "warmup_teacher_temp": 0.04,
                        "freeze_last_layer_steps": 15,
                        "head": {"hidden_dim": 512, "bottleneck_dim": 128, "output_dim": 1024, "use_bn": True}},
        optimizer={"name": "lars", "base_learning_rate": 4.0, "scaling": "linear", "weight_decay": 1e-5},
        source=DIGITS_SOURCE + ", two crops as solo-learn's CIFAR DINO",
    ),
    "dino_vit_digits": derive(
        DIGITS_COMMON, objective="dino", backbone={"name": "vit_digits"},
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
    "byol_cifar10": derive(
        CIFAR_COMMON, objective="byol", augment={"kind": "simclr", "recipe": "solo_asymmetric"},
        # base_tau 0.99 -> final_tau 1.0 on a cosine: BYOL's default schedule over the run.
        objective_args={"momentum": 0.99, "projector": {"hidden_dims": [4096], "output_dim": 256},
                        "predictor": {"hidden_dim": 4096, "output_dim": 256}},
        optimizer={**SOLO_LARS, "base_learning_rate": 1.0, "weight_decay": 1e-5},
        source=SOLO + "byol.yaml (augmentations/asymmetric.yaml)",
    ),
    "simsiam_cifar10": derive(
        CIFAR_COMMON, objective="simsiam", augment={"kind": "simclr", "recipe": "solo_symmetric_weak"},
        objective_args={"projector": {"hidden_dims": [2048, 2048], "output_dim": 2048, "last_bn": True,
                                      "last_bn_affine": False},
                        "predictor": {"hidden_dim": 512, "output_dim": 2048}},
        optimizer={**SOLO_SGD, "base_learning_rate": 0.5, "weight_decay": 1e-5},
        source=SOLO + "simsiam.yaml (augmentations/symmetric_weak.yaml)",
    ),
    "vicreg_cifar10": derive(
        CIFAR_COMMON, objective="vicreg",
        # vicreg.yaml's own augmentations: crop (0.2, 1), ColorJitter(0.4, 0.4, 0.2, 0.1) p 0.8,
        # greyscale 0.2, no blur, solarization 0.1 on both views.
        augment={"kind": "simclr", "recipe": "solo_asymmetric", "crop_area": (0.2, 1.0), "solarize_prob": 0.1},
        objective_args={"invariance": 25.0, "variance": 25.0, "covariance": 1.0,
                        "expander": {"hidden_dims": [2048, 2048], "output_dim": 2048}},
        optimizer={**SOLO_LARS, "base_learning_rate": 0.3, "weight_decay": 1e-4},
        source=SOLO + "vicreg.yaml (sim/var/cov weights 25/25/1, proj 2048, LARS 0.3, wd 1e-4)",
    ),
    "dino_cifar10": derive(
        CIFAR_COMMON, objective="dino", augment={"kind": "simclr", "recipe": "solo_asymmetric"},
        # solo-learn's CIFAR DINO trains on 2 crops; 195 steps = its first epoch (freeze_last_layer 1).
        objective_args={"momentum": 0.9995, "student_temp": 0.1, "teacher_temp": 0.07,
                        "warmup_teacher_temp": 0.04, "warmup_teacher_temp_steps": 0,
                        "freeze_last_layer_steps": CIFAR_STEPS_PER_EPOCH,
                        "head": {"hidden_dim": 2048, "bottleneck_dim": 256, "output_dim": 4096}},
        optimizer={**SOLO_LARS, "base_learning_rate": 0.3, "weight_decay": 1e-6},
        source=SOLO + "dino.yaml (augmentations/asymmetric.yaml) and solo/methods/dino.py defaults",
    ),
    "byol_imagenet": derive(
        IMAGENET_COMMON, objective="byol", batch_size=4096, epochs=1000,
        augment={"kind": "simclr", "recipe": "byol_imagenet"},
        objective_args={"momentum": 0.996, "projector": {"hidden_dims": [4096], "output_dim": 256},
                        "predictor": {"hidden_dim": 4096, "output_dim": 256}},
        optimizer={"name": "lars", "base_learning_rate": 0.2, "scaling": "linear", "momentum": 0.9,
                   "weight_decay": 1.5e-6, "eta": 0.001},
        source="Grill et al. 2020, Sec. 3.2, App. B (augmentations, table 6) and App. C (LARS 0.2 x B/256, "
               "wd 1.5e-6, 10 warmup epochs, tau 0.996 -> 1, 1000 epochs, batch 4096)",
    ),
    "simsiam_imagenet": derive(
        IMAGENET_COMMON, objective="simsiam", batch_size=512, epochs=100, schedule={"warmup_epochs": 0},
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
    "vicreg_imagenet": derive(
        IMAGENET_COMMON, objective="vicreg", batch_size=2048, epochs=1000,
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
    "dino_vit_small_imagenet": derive(
        IMAGENET_COMMON, objective="dino", batch_size=512, epochs=100,
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
    "dino_imagenet": derive(
        IMAGENET_COMMON, objective="dino", batch_size=1024, epochs=100,
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
}
