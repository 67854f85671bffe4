"""Presets: every one builds its encoder, objective, augmentation and optimizer."""
import numpy as np
import pytest
import tensorflow as tf

from sslzoo import models
from sslzoo.models import factory, presets


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


IMAGE_DIGITS = [n for n in presets.names() if n.endswith("_digits") and presets.get(n)["task"] == "image"]


@pytest.mark.parametrize("name", IMAGE_DIGITS)
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


def test_linear_scaling_rule():
    preset = presets.get("simclr_imagenet")
    # SimCLR: 0.3 x 4096 / 256 = 4.8 (Chen et al. 2020, appendix B.1).
    assert factory.learning_rate(preset, 4096) == pytest.approx(4.8)


def test_preset_augment_fields_override_the_recipe():
    preset = presets.get("simclr_digits")
    preset["augment"] = {"kind": "simclr", "recipe": "digits", "crop_area": [0.5, 1.0]}
    augmenter = factory.build_augment(preset)
    assert tuple(augmenter.crop_area) == (0.5, 1.0)
    assert augmenter.flip_prob == 0.0  # the rest of the digits recipe stays


def test_multicrop_spec_sets_local_size_and_areas(digits):
    preset = presets.get("swav_digits")
    preset["augment"] = {"kind": "multicrop", "recipe": "digits", "num_local": 3, "local_size": 12,
                         "crop_area": [0.5, 1.0], "local_area": [0.3, 0.6]}
    augmenter = factory.build_augment(preset, seed=0)
    assert tuple(augmenter.global_area) == (0.5, 1.0) and tuple(augmenter.local_area) == (0.3, 0.6)
    crops = augmenter(digits[0][:4, :, :, None])
    assert [tuple(c.shape) for c in crops] == [(4, 28, 28, 3)] * 2 + [(4, 12, 12, 3)] * 3
    # Without the fields the areas follow crop_area: SwAV's (0.14, 1) and (0.05, 0.14) at 0.08.
    imagenet = factory.build_augment(presets.get("swav_imagenet"))
    assert tuple(imagenet.global_area) == (0.14, 1.0) and tuple(imagenet.local_area) == (0.05, 0.14)
    assert (imagenet.global_size, imagenet.local_size, imagenet.num_local) == (224, 96, 6)


def test_a_mistyped_field_names_itself():
    with pytest.raises(ValueError, match="field 'optimizer' must be an object"):
        presets.get("simclr_digits", optimizer=0.3)
    with pytest.raises(ValueError, match="field 'epochs' must be a positive integer"):
        presets.get("simclr_digits", epochs=2.5)


def test_json_round_trip_and_its_checks():
    preset = presets.get("swav_digits", epochs=3)
    again = presets.from_json(presets.to_json(preset))
    assert presets.to_json(again) == presets.to_json(preset) and again["epochs"] == 3
    with pytest.raises(ValueError, match="no field 'epoch'"):
        presets.from_json('{"name": "swav_digits", "epoch": 3}')
    with pytest.raises(ValueError, match="does not parse"):
        presets.from_json("{name: swav_digits")
