"""Presets: every one builds; every published one matches its source field by field.

The expected values in the per-preset tests are written out from the source file
named in the comment (repository, file, the flag / key / function), not read from
the code. Where the source uses a different convention the comment converts it
(e.g. an absolute learning rate into a base rate times batch / 256).
"""
import numpy as np
import pytest
import tensorflow as tf

from sslzoo import models
from sslzoo.models import factory, presets
from sslzoo.models.recipe import RecipeError


def test_unknown_preset_lists_known_ones():
    with pytest.raises(ValueError, match="Known presets: .*simclr_digits"):
        presets.get("simclr_mnist")


def test_unknown_field_is_rejected():
    with pytest.raises(ValueError, match="no field 'epoch'"):
        presets.get("simclr_digits", epoch=3)


def test_get_returns_independent_copies():
    first = presets.get("simclr_digits")
    first["objective_args"]["temperature"] = 99.0
    assert presets.get("simclr_digits")["objective_args"]["temperature"] != 99.0
    assert presets.PRESETS["simclr_digits"].objective_args["temperature"] != 99.0


IMAGE_DIGITS = [n for n in presets.names() if n.endswith("_digits") and presets.get(n)["task"] == "image"]
PUBLISHED = [n for n in presets.names() if not n.endswith(("_digits", "_avdigits"))]


# The ViT preset's step (about 25 s on 2 cores) runs nightly; test_vit.py trains DINO with the
# same digits ViT in the default run.
@pytest.mark.parametrize("name", [n if n != "dino_vit_digits" else pytest.param(n, marks=pytest.mark.slow)
                                  for n in IMAGE_DIGITS])
def test_digits_presets_build_and_run_a_step(name, digits):
    preset = presets.get(name)
    model = factory.build_objective(preset)
    augment = factory.build_augment(preset, seed=1)
    views = augment(digits[0][:16, :, :, None])
    model.compile(optimizer=factory.build_optimizer(preset, steps_per_epoch=10, global_batch=16))
    history = model.fit(tf.data.Dataset.from_tensors(views), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize("name", [n for n in presets.names() if presets.get(n)["task"] == "image"
                                  and not n.endswith("_digits")])
def test_published_presets_are_complete(name):
    preset = presets.get(name)
    for field in ("objective", "backbone", "batch_size", "epochs", "optimizer", "augment", "dataset"):
        assert field in preset, field
    assert preset["objective"] in models.available()
    assert factory.learning_rate(preset, preset["batch_size"]) > 0
    factory.build_augment(preset)  # recipe names resolve
    factory.build_optimizer(preset, steps_per_epoch=10, global_batch=preset.batch_size)  # arguments exist


@pytest.mark.parametrize("name", presets.names())
def test_every_preset_names_its_source(name):
    recipe = presets.get(name)
    assert recipe.source.strip()
    if name.endswith(("_digits", "_avdigits")):
        assert "not a published recipe" in recipe.source


def test_linear_scaling_rule():
    preset = presets.get("simclr_imagenet")
    # SimCLR: 0.3 x 4096 / 256 = 4.8 (Chen et al. 2020, appendix B.1).
    assert factory.learning_rate(preset, 4096) == pytest.approx(4.8)


def test_preset_augment_fields_override_the_recipe():
    preset = presets.get("simclr_digits", augment={"kind": "simclr", "recipe": "digits", "crop_area": [0.5, 1.0]})
    augmenter = factory.build_augment(preset)
    assert tuple(augmenter.crop_area) == (0.5, 1.0)
    assert augmenter.flip_prob == 0.0  # the rest of the digits recipe stays


def test_multicrop_spec_sets_local_size_and_areas(digits):
    preset = presets.get("swav_digits", augment={"kind": "multicrop", "recipe": "digits", "num_local": 3,
                                                 "local_size": 12, "crop_area": [0.5, 1.0],
                                                 "local_area": [0.3, 0.6]})
    augmenter = factory.build_augment(preset, seed=0)
    assert tuple(augmenter.global_area) == (0.5, 1.0) and tuple(augmenter.local_area) == (0.3, 0.6)
    crops = augmenter(digits[0][:4, :, :, None])
    assert [tuple(c.shape) for c in crops] == [(4, 28, 28, 3)] * 2 + [(4, 12, 12, 3)] * 3
    # Without the fields the areas follow crop_area: SwAV's (0.14, 1) and (0.05, 0.14) at 0.08.
    imagenet = factory.build_augment(presets.get("swav_imagenet"))
    assert tuple(imagenet.global_area) == (0.14, 1.0) and tuple(imagenet.local_area) == (0.05, 0.14)
    assert (imagenet.global_size, imagenet.local_size, imagenet.num_local) == (224, 96, 6)


def test_a_mistyped_field_names_itself():
    with pytest.raises(RecipeError, match="field optimizer must be an Optimizer"):
        presets.get("simclr_digits", optimizer=0.3)
    with pytest.raises(ValueError, match="field epochs must be an integer"):
        presets.get("simclr_digits", epochs=2.5)
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        presets.get("simclr_digits", epochs=0)


def test_json_round_trip_and_its_checks():
    preset = presets.get("swav_digits", epochs=3)
    again = presets.from_json(presets.to_json(preset))
    assert presets.to_json(again) == presets.to_json(preset) and again["epochs"] == 3 and again == preset
    with pytest.raises(ValueError, match="no field 'epoch'"):
        presets.from_json('{"name": "swav_digits", "epoch": 3}')
    with pytest.raises(ValueError, match="does not parse"):
        presets.from_json("{name: swav_digits")


def test_schedule_end_fraction_and_warmup_reach_the_optimizer():
    # barlowtwins main.py adjust_learning_rate: 10 warmup epochs, then cosine to base x 0.001.
    recipe = presets.get("barlow_twins_imagenet")
    peak = 0.2 * 2048 / 256
    schedule = factory.build_schedule(recipe, steps_per_epoch=100, peak_learning_rate=factory.learning_rate(recipe, 2048))
    assert schedule.warmup_steps == 1000 and schedule.total_steps == 100000
    assert float(schedule(1000)) == pytest.approx(peak, rel=1e-6)
    assert float(schedule(100000)) == pytest.approx(peak * 0.001, rel=1e-5)


# --------------------------------------------------------------------------------------------------
# Each published preset against its source. `expect(name, {...})` checks recipe fields by dotted path
# ("optimizer.weight_decay", "objective_args.projector.hidden_dims"), "lr@B" the peak rate at global
# batch B, and "augment:<attribute>" the attribute of the augmenter the preset builds (SimCLRAugment or
# MultiCrop: named recipe, preset fields and the augmenter's defaults together; a probability given
# per view compares with a single number when both views have it).

def _lookup(recipe, path):
    value = recipe
    for part in path.split("."):
        value = value[part]
    return value


def expect(name, expected):
    recipe = presets.get(name)
    augmenter = factory.build_augment(recipe) if recipe.augment else None
    for path, want in expected.items():
        if path.startswith("lr@"):
            got = factory.learning_rate(recipe, int(path[3:]))
        elif path.startswith("augment:"):
            got = getattr(augmenter, path[len("augment:"):])
        else:
            got = _lookup(recipe, path)
        if isinstance(got, (list, tuple)):
            got = [float(v) if isinstance(v, float) else v for v in got]
            if isinstance(want, (list, tuple)):
                want = list(want)
            elif len(set(got)) == 1:  # one probability for both views
                got = got[0]
        if isinstance(want, float):
            assert got == pytest.approx(want, rel=1e-9), f"{name}: {path} is {got!r}, source says {want!r}"
        else:
            assert got == want, f"{name}: {path} is {got!r}, source says {want!r}"


# solo-learn, shared by every *_cifar10 preset:
# - solo/args/pretrain.py parse_cfg: lr *= batch_size * devices / 256 (devices: [0], batch 256); sgd and lars
#   kwargs.momentum default 0.9.
# - solo/methods/base.py add_and_assert_specific_cfg: scheduler.warmup_epochs 10, min_lr 0.0; warmup_cosine.
# - scripts/pretrain/cifar/*.yaml: backbone resnet18 (CIFAR stem: base.py replaces conv1 by a 3x3 conv and drops
#   the max-pool), batch_size 256, max_epochs 1000; LARS configs: kwargs clip_lr True, eta 0.02,
#   exclude_bias_n_norm True.
SOLO_COMMON = {
    "dataset": "cifar10", "image_size": 32, "batch_size": 256, "epochs": 1000,
    "backbone.name": "resnet18", "backbone.stem": "cifar",
    "schedule.warmup_epochs": 10.0, "schedule.end_fraction": 0.0, "optimizer.momentum": 0.9,
    "augment:flip_prob": 0.5, "augment:jitter_prob": 0.8, "augment:grayscale_prob": 0.2,
}
SOLO_LARS = {"optimizer.name": "lars", "optimizer.eta": 0.02, "optimizer.clip_lr": True}
# augmentations/symmetric.yaml: rrc (0.08, 1.0), color_jitter 0.8/0.8/0.8/0.2 (strength 1), blur 0.5, no solarization.
SOLO_SYMMETRIC = {"augment:crop_area": [0.08, 1.0], "augment:jitter_strength": 1.0, "augment:blur_prob": 0.5,
                  "augment:solarize_prob": 0.0}
# augmentations/symmetric_weak.yaml: color_jitter 0.4/0.4/0.4/0.1 (strength 0.5), blur 0.5.
SOLO_SYMMETRIC_WEAK = {"augment:crop_area": [0.08, 1.0], "augment:jitter_strength": 0.5, "augment:blur_prob": 0.5,
                       "augment:solarize_prob": 0.0}
# augmentations/asymmetric.yaml: color_jitter 0.4/0.4/0.2/0.1 (taken as strength 0.5), blur 0 / 0,
# solarization 0 / 0.2.
SOLO_ASYMMETRIC = {"augment:crop_area": [0.08, 1.0], "augment:jitter_strength": 0.5, "augment:blur_prob": 0.0,
                   "augment:solarize_prob": [0.0, 0.2]}


def test_simclr_cifar10_matches_solo_learn():
    # solo-learn scripts/pretrain/cifar/simclr.yaml: proj_hidden_dim 2048, proj_output_dim 256, temperature 0.2;
    # optimizer lars lr 0.4 weight_decay 1e-4; solo/methods/simclr.py projector Linear-ReLU-Linear (no BN).
    expect("simclr_cifar10", {**SOLO_COMMON, **SOLO_LARS, **SOLO_SYMMETRIC,
                              "objective": "simclr", "objective_args.temperature": 0.2,
                              "objective_args.projector.hidden_dims": [2048],
                              "objective_args.projector.output_dim": 256,
                              "objective_args.projector.use_bn": False,
                              "lr@256": 0.4, "optimizer.weight_decay": 1e-4})


def test_moco_v2_cifar10_matches_solo_learn():
    # solo-learn scripts/pretrain/cifar/mocov2plus.yaml: proj 2048 -> 256, queue_size 32768, temperature 0.2,
    # base_tau 0.99 (final_tau 0.999: see the preset's notes); optimizer sgd lr 0.3 weight_decay 1e-4
    # (torch.optim.SGD: L2 decay added to the gradient), augmentations symmetric_weak.yaml.
    expect("moco_v2_cifar10", {**SOLO_COMMON, **SOLO_SYMMETRIC_WEAK,
                               "objective": "moco_v2", "objective_args.temperature": 0.2,
                               "objective_args.queue_size": 32768, "objective_args.momentum": 0.99,
                               "objective_args.projector.hidden_dims": [2048],
                               "objective_args.projector.output_dim": 256,
                               "objective_args.projector.use_bn": False,
                               "optimizer.name": "sgd_l2", "lr@256": 0.3, "optimizer.weight_decay": 1e-4})
    assert "final_tau 0.999" in presets.get("moco_v2_cifar10").notes


def test_barlow_twins_cifar10_matches_solo_learn():
    # solo-learn scripts/pretrain/cifar/barlow.yaml: proj_hidden_dim 2048, proj_output_dim 2048, scale_loss 0.1;
    # lamb 0.0051 (solo/methods/barlow_twins.py default); lars lr 0.3 weight_decay 1e-4; asymmetric.yaml.
    expect("barlow_twins_cifar10", {**SOLO_COMMON, **SOLO_LARS, **SOLO_ASYMMETRIC,
                                    "objective": "barlow_twins", "objective_args.lambd": 0.0051,
                                    "objective_args.scale_loss": 0.1,
                                    "objective_args.projector.hidden_dims": [2048, 2048],
                                    "objective_args.projector.output_dim": 2048,
                                    "lr@256": 0.3, "optimizer.weight_decay": 1e-4})


def test_swav_cifar10_matches_solo_learn():
    # solo-learn scripts/pretrain/cifar/swav.yaml: proj_hidden_dim 2048, proj_output_dim 128, num_prototypes 3000,
    # queue_size 3840, epoch_queue_starts 50, freeze_prototypes_epochs 2, temperature 0.1; lars lr 0.6,
    # weight_decay 1e-6; symmetric.yaml (num_crops 2, crop_size 32: no small crops); solo/methods/swav.py
    # defaults sk_epsilon 0.05, sk_iters 3. 50,000 images / 256 = 195 steps an epoch (drop_last).
    multicrop = {key: value for key, value in SOLO_SYMMETRIC.items() if key != "augment:crop_area"}
    expect("swav_cifar10", {**SOLO_COMMON, **SOLO_LARS, **multicrop,
                            "augment:global_area": [0.08, 1.0], "augment:num_local": 0,
                            "objective": "swav", "objective_args.num_prototypes": 3000,
                            "objective_args.temperature": 0.1, "objective_args.epsilon": 0.05,
                            "objective_args.sinkhorn_iterations": 3,
                            "objective_args.queue_length": 3840, "objective_args.queue_start_step": 50 * 195,
                            "objective_args.freeze_prototypes_steps": 2 * 195,
                            "objective_args.projector.hidden_dims": [2048],
                            "objective_args.projector.output_dim": 128,
                            "lr@256": 0.6, "optimizer.weight_decay": 1e-6})


def test_byol_cifar10_matches_solo_learn():
    # solo-learn scripts/pretrain/cifar/byol.yaml: proj_hidden_dim 4096, proj_output_dim 256, pred_hidden_dim 4096;
    # momentum base_tau 0.99 -> final_tau 1.0 (BYOL's cosine to 1); lars lr 1.0 weight_decay 1e-5; asymmetric.yaml.
    expect("byol_cifar10", {**SOLO_COMMON, **SOLO_LARS, **SOLO_ASYMMETRIC,
                            "objective": "byol", "objective_args.momentum": 0.99,
                            "objective_args.projector.hidden_dims": [4096],
                            "objective_args.projector.output_dim": 256,
                            "objective_args.predictor.hidden_dim": 4096,
                            "lr@256": 1.0, "optimizer.weight_decay": 1e-5})


def test_simsiam_cifar10_matches_solo_learn():
    # solo-learn scripts/pretrain/cifar/simsiam.yaml: proj_hidden_dim 2048, proj_output_dim 2048,
    # pred_hidden_dim 512; sgd lr 0.5 weight_decay 1e-5; symmetric_weak.yaml.
    expect("simsiam_cifar10", {**SOLO_COMMON, **SOLO_SYMMETRIC_WEAK,
                               "objective": "simsiam", "objective_args.projector.output_dim": 2048,
                               "objective_args.predictor.hidden_dim": 512,
                               "optimizer.name": "sgd_l2", "lr@256": 0.5, "optimizer.weight_decay": 1e-5})


def test_vicreg_cifar10_matches_solo_learn():
    # solo-learn scripts/pretrain/cifar/vicreg.yaml: proj 2048 -> 2048, sim/var/cov_loss_weight 25/25/1;
    # its own augmentations: rrc (0.2, 1.0), color_jitter 0.4/0.4/0.2/0.1, blur 0, solarization 0.1, grayscale 0.2;
    # lars lr 0.3 weight_decay 1e-4.
    expect("vicreg_cifar10", {**SOLO_COMMON, **SOLO_LARS,
                              "augment:crop_area": [0.2, 1.0], "augment:jitter_strength": 0.5,
                              "augment:blur_prob": 0.0, "augment:solarize_prob": 0.1,
                              "objective": "vicreg", "objective_args.invariance": 25.0,
                              "objective_args.variance": 25.0, "objective_args.covariance": 1.0,
                              "objective_args.expander.hidden_dims": [2048, 2048],
                              "objective_args.expander.output_dim": 2048,
                              "lr@256": 0.3, "optimizer.weight_decay": 1e-4})


def test_dino_cifar10_matches_solo_learn():
    # solo-learn scripts/pretrain/cifar/dino.yaml: proj_hidden_dim 2048, proj_output_dim 256, num_prototypes 4096,
    # base_tau 0.9995 -> 1.0; lars lr 0.3 weight_decay 1e-6; asymmetric.yaml. solo/methods/dino.py defaults:
    # student_temperature 0.1, teacher_temperature 0.07, warmup_teacher_temperature_epochs 0, freeze_last_layer 1
    # epoch (195 steps).
    expect("dino_cifar10", {**SOLO_COMMON, **SOLO_LARS, **SOLO_ASYMMETRIC,
                            "objective": "dino", "objective_args.momentum": 0.9995,
                            "objective_args.student_temp": 0.1, "objective_args.teacher_temp": 0.07,
                            "objective_args.warmup_teacher_temp_steps": 0,
                            "objective_args.freeze_last_layer_steps": 195,
                            "objective_args.head.hidden_dim": 2048, "objective_args.head.bottleneck_dim": 256,
                            "objective_args.head.output_dim": 4096,
                            "lr@256": 0.3, "optimizer.weight_decay": 1e-6})


IMAGENET_COMMON = {"dataset": "imagenet2012", "image_size": 224, "backbone.name": "resnet50",
                   "augment:flip_prob": 0.5, "augment:jitter_prob": 0.8, "augment:grayscale_prob": 0.2}


def test_simclr_imagenet_matches_the_simclr_readme():
    # google-research/simclr README, SimCLRv1 pretrain command: --train_batch_size=4096 --train_epochs=100
    # --learning_rate=0.3 (learning_rate_scaling linear: 0.3 x 4096 / 256 = 4.8) --weight_decay=1e-6
    # --temperature=0.1; run.py warmup_epochs 10, momentum 0.9 (LARS, eta 0.001); proj_out_dim 128.
    # Chen et al. 2020 appendix A: crop (0.08, 1), colour distortion strength 1.0, blur p 0.5.
    expect("simclr_imagenet", {**IMAGENET_COMMON, "objective": "simclr", "batch_size": 4096, "epochs": 100,
                               "lr@4096": 4.8, "optimizer.name": "lars", "optimizer.weight_decay": 1e-6,
                               "optimizer.momentum": 0.9, "optimizer.eta": 0.001,
                               "schedule.warmup_epochs": 10.0, "schedule.end_fraction": 0.0,
                               "objective_args.temperature": 0.1, "objective_args.projector.output_dim": 128,
                               "augment:crop_area": [0.08, 1.0], "augment:jitter_strength": 1.0,
                               "augment:blur_prob": 0.5})


def test_moco_v2_imagenet_matches_main_moco():
    # facebookresearch/moco main_moco.py argparse defaults: --lr 0.03, --batch-size 256, --momentum 0.9,
    # --wd 1e-4 (torch.optim.SGD: coupled L2), --epochs 200, --moco-k 65536, --moco-m 0.999, --moco-dim 128;
    # README MoCo v2: --mlp (2048-2048-128, no BN: moco/builder.py) --moco-t 0.2 --aug-plus --cos (no warmup,
    # cosine to 0). aug_plus: RandomResizedCrop(224, scale=(0.2, 1.)), ColorJitter(0.4, 0.4, 0.4, 0.1) p 0.8
    # (strength 0.5), RandomGrayscale 0.2, GaussianBlur([.1, 2.]) p 0.5, flip. Loss on (q, k) once: not symmetric.
    expect("moco_v2_imagenet", {**IMAGENET_COMMON, "objective": "moco_v2", "batch_size": 256, "epochs": 200,
                                "optimizer.name": "sgd_l2", "lr@256": 0.03, "optimizer.momentum": 0.9,
                                "optimizer.weight_decay": 1e-4, "schedule.warmup_epochs": 0.0,
                                "schedule.end_fraction": 0.0,
                                "objective_args.temperature": 0.2, "objective_args.queue_size": 65536,
                                "objective_args.momentum": 0.999, "objective_args.symmetric": False,
                                "objective_args.projector.hidden_dims": [2048],
                                "objective_args.projector.output_dim": 128,
                                "objective_args.projector.use_bn": False,
                                "augment:crop_area": [0.2, 1.0], "augment:jitter_strength": 0.5,
                                "augment:blur_prob": 0.5, "augment:blur_sigma": [0.1, 2.0],
                                "augment:solarize_prob": 0.0})


def test_moco_v3_imagenet_matches_config_md():
    # facebookresearch/moco-v3 CONFIG.md, ResNet-50 100-epoch: main_moco.py --moco-m-cos --crop-min=.2 over the
    # main_moco.py defaults: --epochs 100, -b 4096, --lr 0.6 (x batch / 256), --momentum 0.9, --wd 1e-6,
    # --optimizer lars (moco/optimizer.py, trust 0.001), --warmup-epochs 10 (then half cosine to 0),
    # --moco-dim 256, --moco-mlp-dim 4096, --moco-m 0.99, --moco-t 1.0. augmentation1 / augmentation2: blur p 1.0 /
    # 0.1, solarize 0 / 0.2, ColorJitter(0.4, 0.4, 0.2, 0.1) p 0.8. moco/builder.py MoCo_ResNet: projector
    # _build_mlp(2, 2048, 4096, 256) (last BN affine=False), predictor _build_mlp(2, 256, 4096, 256, False),
    # nn.Linear(..., bias=False) everywhere.
    expect("moco_v3_imagenet", {**IMAGENET_COMMON, "objective": "moco_v3", "batch_size": 4096, "epochs": 100,
                                "optimizer.name": "lars", "lr@4096": 0.6 * 16, "optimizer.momentum": 0.9,
                                "optimizer.weight_decay": 1e-6, "optimizer.eta": 0.001,
                                "schedule.warmup_epochs": 10.0, "schedule.end_fraction": 0.0,
                                "objective_args.temperature": 1.0, "objective_args.momentum": 0.99,
                                "objective_args.projector.hidden_dims": [4096],
                                "objective_args.projector.output_dim": 256,
                                "objective_args.projector.last_bn": True,
                                "objective_args.projector.last_bn_affine": False,
                                "objective_args.projector.output_bias": False,
                                "objective_args.predictor.hidden_dim": 4096,
                                "objective_args.predictor.output_dim": 256,
                                "objective_args.predictor.output_bias": False,
                                "augment:crop_area": [0.2, 1.0], "augment:blur_prob": [1.0, 0.1],
                                "augment:solarize_prob": [0.0, 0.2], "augment:jitter_strength": 0.5})
    # --moco-m-cos: the momentum rises to 1 on a half cosine; MoCoV3 does it by default over the run.
    assert models.get("moco_v3").cosine_momentum_by_default


def test_barlow_twins_imagenet_matches_main_py():
    # facebookresearch/barlowtwins main.py argparse defaults: --epochs 1000, --batch-size 2048,
    # --learning-rate-weights 0.2, --learning-rate-biases 0.0048 (both x batch / 256 in adjust_learning_rate),
    # --weight-decay 1e-6, --lambd 0.0051, --projector 8192-8192-8192; adjust_learning_rate: warmup 10 epochs,
    # end_lr = base_lr * 0.001; LARS(eta=0.001, momentum=0.9, weight_decay_filter=True,
    # lars_adaptation_filter=True); Transform: GaussianBlur p 1.0 / 0.1, Solarization 0.0 / 0.2,
    # ColorJitter(0.4, 0.4, 0.2, 0.1) p 0.8, RandomResizedCrop(224) (scale (0.08, 1)).
    expect("barlow_twins_imagenet", {**IMAGENET_COMMON, "objective": "barlow_twins", "batch_size": 2048,
                                     "epochs": 1000, "optimizer.name": "lars", "lr@2048": 0.2 * 8,
                                     "optimizer.excluded_learning_rate_factor": 0.0048 / 0.2,
                                     "optimizer.weight_decay": 1e-6, "optimizer.eta": 0.001,
                                     "optimizer.momentum": 0.9,
                                     "schedule.warmup_epochs": 10.0, "schedule.end_fraction": 0.001,
                                     "objective_args.lambd": 0.0051,
                                     "objective_args.projector.hidden_dims": [8192, 8192],
                                     "objective_args.projector.output_dim": 8192,
                                     "augment:crop_area": [0.08, 1.0], "augment:blur_prob": [1.0, 0.1],
                                     "augment:solarize_prob": [0.0, 0.2], "augment:jitter_strength": 0.5})


def test_swav_imagenet_matches_the_800_epoch_script():
    # facebookresearch/swav scripts/swav_800ep_pretrain.sh: 64 GPUs x --batch_size 64 = 4096, --base_lr 4.8
    # (0.3 x 4096 / 256), --final_lr 0.0048 (0.001 x base), --wd 0.000001, --warmup_epochs 10, --epochs 800,
    # --nmb_crops 2 6, --size_crops 224 96, --min_scale_crops 0.14 0.05, --max_scale_crops 1. 0.14,
    # --temperature 0.1, --epsilon 0.05, --sinkhorn_iterations 3, --feat_dim 128, --nmb_prototypes 3000,
    # --queue_length 0, --freeze_prototypes_niters 313; main_swav.py: --hidden_mlp 2048, SGD momentum 0.9 under
    # LARC(trust_coefficient=0.001, clip=False).
    expect("swav_imagenet", {**IMAGENET_COMMON, "objective": "swav", "batch_size": 4096, "epochs": 800,
                             "lr@4096": 4.8, "optimizer.weight_decay": 1e-6, "optimizer.momentum": 0.9,
                             "optimizer.eta": 0.001, "schedule.warmup_epochs": 10.0,
                             "schedule.end_fraction": 0.0048 / 4.8,
                             "augment:num_local": 6, "augment:local_size": 96,
                             "augment:global_area": [0.14, 1.0], "augment:local_area": [0.05, 0.14],
                             "objective_args.temperature": 0.1, "objective_args.epsilon": 0.05,
                             "objective_args.sinkhorn_iterations": 3, "objective_args.num_prototypes": 3000,
                             "objective_args.queue_length": 0, "objective_args.freeze_prototypes_steps": 313,
                             "objective_args.projector.hidden_dims": [2048],
                             "objective_args.projector.output_dim": 128})
    assert "clip_lr" not in presets.get("swav_imagenet").optimizer  # LARC clip=False


def test_byol_imagenet_matches_the_paper():
    # Grill et al. 2020, App. C: LARS, base lr 0.2 x batch / 256, weight decay 1.5e-6, batch 4096, 1000 epochs,
    # 10 warmup epochs, cosine; tau_base 0.996 -> 1; projector 4096 -> 256, predictor 4096 -> 256.
    # App. B table 6: blur 1.0 / 0.1, solarize 0.0 / 0.2, jitter (0.4, 0.4, 0.2, 0.1) p 0.8, greyscale 0.2.
    expect("byol_imagenet", {**IMAGENET_COMMON, "objective": "byol", "batch_size": 4096, "epochs": 1000,
                             "lr@4096": 0.2 * 16, "optimizer.weight_decay": 1.5e-6, "optimizer.name": "lars",
                             "schedule.warmup_epochs": 10.0, "objective_args.momentum": 0.996,
                             "objective_args.projector.hidden_dims": [4096],
                             "objective_args.projector.output_dim": 256,
                             "objective_args.predictor.hidden_dim": 4096,
                             "augment:blur_prob": [1.0, 0.1], "augment:solarize_prob": [0.0, 0.2],
                             "augment:crop_area": [0.08, 1.0]})


def test_simsiam_imagenet_matches_main_simsiam():
    # facebookresearch/simsiam main_simsiam.py: --lr 0.05 (init_lr = lr x batch / 256), -b 512, --momentum 0.9,
    # --wd 1e-4 (torch.optim.SGD), --epochs 100, cosine without warmup; --dim 2048 --pred-dim 512; the MoCo v2
    # augmentation (crop (0.2, 1), ColorJitter(0.4, 0.4, 0.4, 0.1) p 0.8, greyscale 0.2, blur p 0.5).
    expect("simsiam_imagenet", {**IMAGENET_COMMON, "objective": "simsiam", "batch_size": 512, "epochs": 100,
                                "optimizer.name": "sgd_l2", "lr@512": 0.1, "optimizer.momentum": 0.9,
                                "optimizer.weight_decay": 1e-4, "schedule.warmup_epochs": 0.0,
                                "objective_args.projector.output_dim": 2048,
                                "objective_args.predictor.hidden_dim": 512,
                                "augment:crop_area": [0.2, 1.0], "augment:jitter_strength": 0.5,
                                "augment:blur_prob": 0.5})


def test_vicreg_imagenet_matches_main_vicreg():
    # facebookresearch/vicreg main_vicreg.py / README: --mlp 8192-8192-8192 --base-lr 0.2 --wd 1e-6, --epochs 1000,
    # --batch-size 2048, --sim-coeff 25 --std-coeff 25 --cov-coeff 1; LARS (eta 0.001, bias and norm excluded);
    # adjust_learning_rate: warmup 10 epochs, end_lr = base_lr * 0.001; augmentations.py TrainTransform:
    # GaussianBlur p 1.0 / 0.1, Solarization p 0.0 / 0.2.
    expect("vicreg_imagenet", {**IMAGENET_COMMON, "objective": "vicreg", "batch_size": 2048, "epochs": 1000,
                               "schedule.warmup_epochs": 10.0, "schedule.end_fraction": 0.001,
                               "augment:blur_prob": [1.0, 0.1], "augment:solarize_prob": [0.0, 0.2],
                               "optimizer.name": "lars", "lr@2048": 0.2 * 8, "optimizer.weight_decay": 1e-6,
                               "optimizer.eta": 0.001, "objective_args.invariance": 25.0,
                               "objective_args.variance": 25.0, "objective_args.covariance": 1.0,
                               "objective_args.expander.hidden_dims": [8192, 8192],
                               "objective_args.expander.output_dim": 8192})


def test_dino_imagenet_matches_the_dino_readme():
    # facebookresearch/dino README ResNet-50 command: --arch resnet50 --optimizer sgd --lr 0.03 --weight_decay 1e-4
    # --global_crops_scale 0.14 1 --local_crops_scale 0.05 0.14; main_dino.py: lr x batch / 256, --out_dim 65536,
    # --momentum_teacher 0.996, --teacher_temp 0.04, --local_crops_number 8, --clip_grad 3.0, --epochs 100,
    # --warmup_epochs 10; utils: torch.optim.SGD(momentum=0.9); DINOLoss student_temp 0.1, center_momentum 0.9.
    expect("dino_imagenet", {**IMAGENET_COMMON, "objective": "dino", "epochs": 100,
                             "optimizer.name": "sgd_l2", "lr@256": 0.03, "optimizer.momentum": 0.9,
                             "optimizer.weight_decay": 1e-4, "optimizer.clipnorm": 3.0,
                             "schedule.warmup_epochs": 10.0,
                             "augment:num_local": 8, "augment:local_size": 96,
                             "augment:global_area": [0.14, 1.0], "augment:local_area": [0.05, 0.14],
                             "objective_args.momentum": 0.996, "objective_args.teacher_temp": 0.04,
                             "objective_args.student_temp": 0.1, "objective_args.center_momentum": 0.9,
                             "objective_args.head.output_dim": 65536})


def test_dino_vit_small_imagenet_matches_the_dino_readme():
    # facebookresearch/dino README, ViT-S/16 100 epochs: main_dino.py --arch vit_small on 8 GPUs with the
    # defaults --batch_size_per_gpu 64 --patch_size 16 --drop_path_rate 0.1 --optimizer adamw --lr 0.0005
    # --weight_decay 0.04 --clip_grad 3.0 --out_dim 65536 --use_bn_in_head False --momentum_teacher 0.996
    # --teacher_temp 0.04 --warmup_epochs 10 --min_lr 1e-6 --global_crops_scale 0.4 1
    # --local_crops_scale 0.05 0.4 --local_crops_number 8 --freeze_last_layer 1 (1281167 // 512 = 2502 steps).
    expect("dino_vit_small_imagenet", {
        "dataset": "imagenet2012", "image_size": 224, "objective": "dino", "epochs": 100, "batch_size": 512,
        "backbone.name": "vit_small", "backbone.patch_size": 16, "backbone.drop_path": 0.1,
        "optimizer.name": "adamw", "lr@256": 5e-4, "optimizer.weight_decay": 0.04, "optimizer.clipnorm": 3.0,
        "schedule.warmup_epochs": 10.0, "schedule.end_fraction": 1e-6 / (5e-4 * 512 / 256),
        "augment:num_local": 8, "augment:local_size": 96,
        "augment:global_area": [0.4, 1.0], "augment:local_area": [0.05, 0.4],
        "objective_args.momentum": 0.996, "objective_args.teacher_temp": 0.04,
        "objective_args.student_temp": 0.1, "objective_args.center_momentum": 0.9,
        "objective_args.freeze_last_layer_steps": 1281167 // 512,
        "objective_args.head.output_dim": 65536, "objective_args.head.use_bn": False})


def test_every_published_preset_has_a_source_test():
    tested = {name[len("test_"):].split("_matches")[0] for name in globals() if "_matches_" in name}
    assert sorted(tested) == sorted(PUBLISHED)
