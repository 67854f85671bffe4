"""The objective registry, batch specs, named encoders and embeddings: the objective API."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import objective_harness as harness


def test_available_lists_the_registered_objectives_sorted():
    from sslzoo import models

    names = models.available()
    assert names == sorted(names)
    for name in ("pair_contrastive", "simclr", "moco_v2", "moco_v3", "barlow_twins", "swav", "clip"):
        assert name in names
        assert models.get(name).registered_name == name


def test_every_registered_objective_goes_through_the_shared_battery():
    from sslzoo import models

    covered = set(harness.OBJECTIVES) | set(harness.OWN_BATTERY)
    assert set(models.available()) <= covered, set(models.available()) - covered


def test_unknown_objective_names_the_registered_ones():
    from sslzoo import models

    with pytest.raises(ValueError, match="Unknown objective 'nope'.*simclr"):
        models.get("nope")


def test_register_refuses_a_non_objective_and_a_taken_name():
    from sslzoo import models

    with pytest.raises(ValueError, match="SSLModel subclass"):
        models.register("thing")(dict)

    class Other(models.SSLModel):
        pass

    with pytest.raises(ValueError, match="already registered"):
        models.register("simclr")(Other)


def test_an_objective_written_outside_sslzoo_trains_by_fit(digits):
    """A user's objective: subclass, compute_objective, register -> model.fit and the factory."""
    from sslzoo import losses, models
    from sslzoo.models import factory
    from sslzoo.models.batch_spec import Tensor

    @models.register("user_cosine")
    @keras.saving.register_keras_serializable(package="user")
    class UserCosine(models.SSLModel):
        metric_names = ("loss",)
        batch_spec = (Tensor(4), Tensor(4))

        def compute_objective(self, batch, training):
            h_1, h_2 = self.encoder(batch[0], training=training), self.encoder(batch[1], training=training)
            return losses.nt_xent(h_1, h_2, temperature=0.5), {}

    try:
        preset = {"objective": "user_cosine", "backbone": {"name": "small_cnn", "widths": [8, 16]},
                  "image_size": harness.IMAGE_SIZE}
        model = factory.build_objective(preset)
        assert isinstance(model, UserCosine)
        model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
        view_1, view_2 = harness.fixed_views(digits[0][:64])
        history = model.fit(harness.dataset((view_1, view_2), 32), epochs=4, verbose=0)
        assert history.history["loss"][-1] < history.history["loss"][0]
    finally:
        from sslzoo.models import registry
        registry._OBJECTIVES.pop("user_cosine", None)


def test_a_wrong_batch_is_refused_at_trace_time_with_both_structures(digits):
    model = harness.make_objective("simclr")
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    view_1, _ = harness.fixed_views(digits[0][:16])
    with pytest.raises(ValueError, match=r"SimCLR: the batch does not match.*Expected \(float \(B, S, S, 3\), "
                                         r"float \(B, S, S, 3\)\); received \(float32\[.*16, 16, 16, 3\]\)"):
        model.fit(tf.data.Dataset.from_tensors((view_1,)), epochs=1, verbose=0)
    with pytest.raises(ValueError, match="CLIP: the batch does not match"):
        harness.make_objective("clip").compute_objective({"image": view_1}, training=False)


@pytest.mark.parametrize("name", ["simclr", "moco_v2", "moco_v3", "barlow_twins", "swav", "clip"])
def test_embed_gives_features_and_each_declared_space(name, digits):
    model = harness.make_objective(name)
    view_1, _ = harness.fixed_views(digits[0][:4])
    features = model.embed(view_1, "image")
    np.testing.assert_array_equal(features, model.encoder(view_1))  # "features" is the encoder output
    for space in model.spaces("image")[1:]:
        assert model.embed(view_1, "image", space).shape[0] == 4
    with pytest.raises(ValueError, match="`space` for 'image' must be one of"):
        model.embed(view_1, "image", "nope")
    with pytest.raises(ValueError, match="`modality` must be one of"):
        model.embed(view_1, "audio")


def test_clip_holds_both_encoders_by_modality():
    model = harness.make_objective("clip")
    assert model.modalities == ("image", "text")
    ids = harness.caption_ids(np.arange(3))
    joint = np.asarray(model.embed(ids, "text", "joint"))
    np.testing.assert_allclose(np.linalg.norm(joint, axis=1), 1.0, rtol=1e-6)  # unit rows


def test_momentum_base_moves_every_teacher_weight_by_the_formula(digits):
    """theta_t <- m theta_t + (1 - m) theta_s over each teacher, written out in numpy."""
    model = harness.make_objective("moco_v3")
    pairs = [(s, t) for student, teacher in model._teacher_pairs
             for s, t in zip(student.variables, teacher.variables) if s.trainable]
    teacher_before = [np.asarray(t) for _, t in pairs]
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    m = float(model.current_momentum())  # step 0 of the cosine schedule: m0
    view_1, view_2 = harness.fixed_views(digits[0][:16])
    model.fit(tf.data.Dataset.from_tensors((view_1, view_2)), epochs=1, verbose=0)
    for (s, t), t0 in zip(pairs, teacher_before):
        np.testing.assert_allclose(np.asarray(t), m * t0 + (1 - m) * np.asarray(s), rtol=1e-5, atol=1e-6)
