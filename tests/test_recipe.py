"""Recipe: typed fields, errors that name the field, JSON in and out, `--show` read back,
and the optimizer options the published recipes need (LARS clip_lr and excluded-rate factor,
SGD with L2 decay in the gradient)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import keras
from sslzoo import optimizers
from sslzoo.models import presets
from sslzoo.models.recipe import Optimizer, Recipe, RecipeError, Schedule
from testing_utils import REPO


def _minimal(**changes):
    data = {"objective": "simclr", "backbone": {"name": "small_cnn", "widths": [8]}, "dataset": "digits",
            "image_size": 28, "augment": {"kind": "simclr", "recipe": "digits"}, "batch_size": 32, "epochs": 1,
            "optimizer": {"name": "sgd", "base_learning_rate": 0.1}, "source": "a test"}
    data.update(changes)
    return data


def test_a_minimal_recipe_fills_defaults_and_converts_types():
    recipe = Recipe.from_dict(_minimal(schedule={"warmup_epochs": 2}))
    assert isinstance(recipe.optimizer, Optimizer) and isinstance(recipe.schedule, Schedule)
    assert recipe.schedule.warmup_epochs == 2.0 and isinstance(recipe.schedule.warmup_epochs, float)
    assert recipe.task == "image" and recipe.objective_args == {} and recipe.notes == ""
    assert Recipe(**_minimal()) == Recipe.from_dict(_minimal())  # the constructor checks the same way


@pytest.mark.parametrize("data, message", [
    (_minimal(epoch=3), r"Recipe has no field 'epoch'; fields: objective, .*epochs"),
    (_minimal(optimizer={"name": "sgd", "base_learning_rate": 0.1, "momentun": 0.9}),
     r"optimizer has no field 'momentun'; fields: .*momentum"),
    (_minimal(schedule={"warmup": 3}), r"schedule has no field 'warmup'; fields: kind, warmup_epochs"),
    # Nested argument objects, against the constructor they configure:
    (_minimal(objective_args={"temprature": 0.2}), r"objective_args.temprature is not an argument of SimCLR"),
    (_minimal(objective_args={"projector": {"hiden_dims": [8]}}),
     r"objective_args.projector.hiden_dims is not an argument of ProjectionHead .*hidden_dims"),
    (_minimal(backbone={"name": "small_cnn", "widht": [8]}), r"backbone.widht is not an argument of small_cnn"),
    (_minimal(backbone={"name": "resnet18", "widht": 0.5}), r"backbone.widht is not an argument of resnet18 .*width"),
    (_minimal(augment={"kind": "simclr", "crop_aera": [0.2, 1.0]}),
     r"augment.crop_aera is not an argument of SimCLRAugment .*crop_area"),
])
def test_an_unknown_field_is_named(data, message):
    with pytest.raises(RecipeError, match=message):
        Recipe.from_dict(data)


@pytest.mark.parametrize("data, message", [
    (_minimal(epochs="10"), r"field epochs must be an integer, got '10' \(str\)"),
    (_minimal(epochs=True), r"field epochs must be an integer, got True \(bool\)"),
    (_minimal(batch_size=2.0), r"field batch_size must be an integer, got 2.0 \(float\)"),
    (_minimal(backbone=[1, 2]), r"field backbone must be an object, got \[1, 2\]"),
    (_minimal(source=None), r"field source must be a string, got None"),
    (_minimal(optimizer={"name": "sgd", "base_learning_rate": "0.1"}),
     r"field optimizer.base_learning_rate must be a number, got '0.1' \(str\)"),
    (_minimal(optimizer={"name": "lars", "base_learning_rate": 0.1, "clip_lr": 1}),
     r"field optimizer.clip_lr must be a bool or None, got 1 \(int\)"),
    (_minimal(templates=["a {}", 3]), r"field templates\[1\] must be a string, got 3"),
    (_minimal(objective_args={"projector": {"dims": {1, 2}}}), r"objective_args.projector.dims must be JSON data"),
])
def test_a_wrong_type_names_the_field_and_the_expected_type(data, message):
    with pytest.raises(RecipeError, match=message):
        Recipe.from_dict(data)


def test_errors_are_both_type_and_value_errors():
    for error_type in (TypeError, ValueError):
        with pytest.raises(error_type):
            Recipe.from_dict(_minimal(epochs="10"))


@pytest.mark.parametrize("data, message", [
    (_minimal(optimizer={"name": "sgd", "base_learning_rate": 0.1, "eta": 0.02}),
     r"optimizer.eta is not an argument of optimizer 'sgd' \(its arguments: .*momentum"),
    (_minimal(optimizer={"name": "rmsprop", "base_learning_rate": 0.1}), r"optimizer.name must be one of \["),
    (_minimal(optimizer={"name": "sgd", "base_learning_rate": 0.1, "scaling": "log"}),
     r"optimizer.scaling must be one of \['linear', 'sqrt'\]"),
    (_minimal(schedule={"end_fraction": 2.0}), r"schedule.end_fraction must be in \[0, 1\]"),
    (_minimal(task="audio"), r"task must be one of \['image', 'clip', 'mmv'\]"),
    (_minimal(augment={"kind": "cutout"}), r"augment.kind must be one of \['simclr', 'multicrop', 'clip_affine'\]"),
    (_minimal(augment=None), r"augment must be an object for an image task"),
    (_minimal(epochs=0), r"epochs must be a positive integer"),
])
def test_values_outside_their_choices_are_named(data, message):
    with pytest.raises(RecipeError, match=message):
        Recipe.from_dict(data)


@pytest.mark.parametrize("name", presets.names())
def test_every_preset_round_trips_through_json(name):
    recipe = presets.get(name)
    text = recipe.to_json()
    again = Recipe.from_json(text)
    assert again == recipe and again.to_json() == text
    assert json.loads(text)["name"] == name


def test_replace_checks_and_leaves_the_original_alone():
    recipe = presets.get("simclr_digits")
    before = (recipe.epochs, recipe.optimizer.base_learning_rate)
    assert before != (3, 0.5)
    shorter = recipe.replace(epochs=3, optimizer=recipe.optimizer.replace(base_learning_rate=0.5))
    assert (shorter.epochs, shorter.optimizer.base_learning_rate) == (3, 0.5)
    assert (recipe.epochs, recipe.optimizer.base_learning_rate) == before == (30, 2.0)
    with pytest.raises(RecipeError, match="no field 'epoch'"):
        recipe.replace(epoch=3)
    with pytest.raises(RecipeError, match="optimizer.weight_decay must be a number or None"):
        recipe.replace(optimizer={**recipe.optimizer.to_dict(), "weight_decay": "high"})
    with pytest.raises(dataclasses_frozen_error()):
        recipe.epochs = 3


def dataclasses_frozen_error():
    import dataclasses

    return dataclasses.FrozenInstanceError


def test_a_recipe_reads_as_the_preset_dicts_did():
    recipe = presets.get("mmv_avdigits")
    assert recipe["epochs"] == recipe.epochs and recipe.get("train_clips") == 4000
    assert "image_size" not in recipe and recipe.get("image_size", 7) == 7  # None fields are absent
    with pytest.raises(KeyError):
        recipe["image_size"]
    assert recipe["optimizer"]["base_learning_rate"] == recipe.optimizer.base_learning_rate
    as_dict = dict(presets.get("clip_digits"), image_size=16)
    assert as_dict["image_size"] == 16 and as_dict["templates"] == presets.get("clip_digits").templates


def test_show_output_of_every_preset_reads_back():
    from sslzoo.train import pretrain

    for name in presets.names():
        recipe = presets.get(name)
        shown = pretrain.resolved_recipe(recipe)
        text = json.dumps(shown, indent=2)
        again = Recipe.from_json(text)
        # Read back, the recipe spells out what --show filled in (optimizer defaults, the augmentation's
        # every argument) and is otherwise the same; shown again it prints the same JSON.
        assert pretrain.resolved_recipe(again) == shown, name
        assert again.replace(optimizer=recipe.optimizer, augment=recipe.augment) == recipe, name
        assert again.optimizer.arguments().items() >= recipe.optimizer.arguments().items(), name


def test_sslzoo_train_show_parses_back_into_the_recipe(tmp_path):
    script = os.path.join(os.path.dirname(sys.executable), "sslzoo-train")
    result = subprocess.run([script, "--preset=barlow_twins_imagenet", "--show", "--epochs=5"],
                            capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    shown = json.loads(result.stdout)
    # barlowtwins main.py: 0.2 x 2048 / 256 = 1.6 for the weights; LARS momentum 0.9 spelled out.
    assert shown["optimizer"]["peak_learning_rate"] == pytest.approx(1.6)
    assert shown["optimizer"]["momentum"] == 0.9 and shown["optimizer"]["weight_decay"] == 1e-6
    assert shown["schedule"] == {"kind": "warmup_cosine", "warmup_epochs": 10.0, "end_fraction": 0.001,
                                 "epochs": 5}
    assert shown["augment"]["blur_prob"] == [1.0, 0.1]
    again = Recipe.from_json(result.stdout)
    recipe = presets.get("barlow_twins_imagenet", epochs=5)
    assert again.replace(optimizer=recipe.optimizer, augment=recipe.augment) == recipe
    assert again.optimizer.excluded_learning_rate_factor == pytest.approx(0.0048 / 0.2)


def test_sslzoo_train_reports_a_bad_override_field_by_name():
    script = os.path.join(os.path.dirname(sys.executable), "sslzoo-train")
    result = subprocess.run([script, "--preset=simclr_digits", "--show", '--override={"epoch": 3}'],
                            capture_output=True, text=True, timeout=300, cwd=REPO)
    assert result.returncode != 0 and "no field 'epoch'" in result.stderr
    assert "Traceback" not in result.stderr


# --- optimizer options the recipes use ------------------------------------------------------------

def _variables():
    dense = keras.layers.Dense(3)
    dense.build((None, 4))
    dense.kernel.assign(np.arange(12, dtype=np.float32).reshape(4, 3) / 10.0 - 0.5)
    dense.bias.assign(np.array([0.5, -0.25, 1.0], np.float32))
    return [dense.kernel, dense.bias]


def _grads(variables, seed):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=v.shape).astype(np.float32) for v in variables]


def test_lars_clip_lr_and_excluded_factor_follow_solo_learn_and_barlow_twins():
    """solo-learn solo/utils/lars.py with clip_lr: step = lr * min(trust / lr, 1) * (g + wd w) into the
    momentum; barlowtwins main.py: biases at learning-rate-biases / learning-rate-weights of the rate."""
    variables = _variables()
    lr, wd, eta, m, factor = 0.5, 1e-2, 0.02, 0.9, 0.024
    optimizer = optimizers.LARS(learning_rate=lr, momentum=m, weight_decay=wd, eta=eta, clip_lr=True,
                                excluded_learning_rate_factor=factor)
    ws = [v.numpy().astype(np.float64) for v in variables]
    vs = [np.zeros_like(w) for w in ws]
    for step in range(3):
        grads = _grads(variables, step)
        optimizer.apply(grads, variables)
        # kernel: adapted, clipped.
        d = grads[0] + wd * ws[0]
        trust = eta * np.linalg.norm(ws[0]) / np.linalg.norm(d)
        vs[0] = m * vs[0] + min(trust, lr) * d
        ws[0] = ws[0] - vs[0]
        # bias: excluded (no decay, no trust ratio), at factor x lr.
        vs[1] = m * vs[1] + factor * lr * grads[1]
        ws[1] = ws[1] - vs[1]
        for variable, expected in zip(variables, ws):
            # float32 against float64 over 3 steps of norms of 12 values: rtol 1e-5.
            np.testing.assert_allclose(variable.numpy(), expected, rtol=1e-5, atol=1e-7)
    config = optimizer.get_config()
    assert config["clip_lr"] is True and config["excluded_learning_rate_factor"] == factor
    assert optimizers.LARS.from_config(config).clip_lr


def test_sgd_l2_adds_the_decay_to_the_gradient_like_torch_sgd():
    """torch.optim.SGD(momentum=m, weight_decay=wd): d = g + wd w; buf = m buf + d; w -= lr buf (constant lr)."""
    variables = _variables()
    lr, wd, m = 0.1, 0.05, 0.9
    optimizer = optimizers.get("sgd_l2", lr, momentum=m, weight_decay=wd)
    assert isinstance(optimizer, optimizers.SGDL2)
    ws = [v.numpy().astype(np.float64) for v in variables]
    bufs = [np.zeros_like(w) for w in ws]
    for step in range(3):
        grads = _grads(variables, step)
        optimizer.apply(grads, variables)
        for i in range(2):
            bufs[i] = m * bufs[i] + grads[i] + wd * ws[i]  # every variable decays, the bias too
            ws[i] = ws[i] - lr * bufs[i]
            np.testing.assert_allclose(variables[i].numpy(), ws[i], rtol=1e-5, atol=1e-7)
    assert optimizer.get_config()["weight_decay"] == wd
    assert optimizers.SGDL2.from_config(optimizer.get_config()).l2_weight_decay == wd
    with pytest.raises(ValueError, match="weight_decay.*-1"):
        optimizers.SGDL2(0.1, weight_decay=-1.0)
