"""BYOL, SimSiam, VICReg, DINO: stop-gradients, teacher state and schedules."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from sslzoo import losses, models
from sslzoo.models.dino import DINOHead
from objective_harness import IMAGE_SIZE, tiny_encoder


def _views(n=8, crops=2, seed=0):
    rng = np.random.default_rng(seed)
    return tuple(rng.random((n, IMAGE_SIZE, IMAGE_SIZE, 3)).astype("float32") for _ in range(crops))


def _step(model, batch, lr=0.05):
    """One optimizer step through `model.fit` (a tuple batch reaches train_step as is)."""
    if getattr(model, "optimizer", None) is None:
        model.compile(optimizer=keras.optimizers.SGD(lr))
    history = model.fit(tf.data.Dataset.from_tensors(batch), epochs=1, verbose=0)
    return {k: v[-1] for k, v in history.history.items()}


@pytest.mark.parametrize("name", ["byol", "dino"])
def test_teacher_gets_no_gradient_and_is_not_trained(name):
    model = models.get(name)(tiny_encoder())
    batch = _views(crops=2 if name == "byol" else 3)
    trainable = {id(v) for v in model.trainable_variables}
    teacher_vars = [v for student, teacher in model._teacher_pairs for v in teacher.variables]
    assert teacher_vars and not any(id(v) in trainable for v in teacher_vars)
    tf_vars = [v.value for v in teacher_vars]  # the backing tf.Variables
    with tf.GradientTape() as tape:
        tape.watch(tf_vars)
        loss, _ = model.compute_objective(batch, training=True)
    grads = tape.gradient(loss, tf_vars)
    assert all(g is None for g in grads), [v.path for v, g in zip(teacher_vars, grads) if g is not None]


@pytest.mark.parametrize("name", ["byol", "dino"])
def test_teacher_moves_by_ema(name):
    model = models.get(name)(tiny_encoder(), momentum=0.9)
    pairs = [(s, t) for student, teacher in model._teacher_pairs
             for s, t in zip(student.variables, teacher.variables) if s.trainable]
    before = [np.array(t) for _, t in pairs]
    _step(model, _views(crops=2 if name == "byol" else 3))
    for (s, t), t0 in zip(pairs, before):
        np.testing.assert_allclose(np.array(t), 0.9 * t0 + 0.1 * np.array(s), rtol=1e-5, atol=1e-6)


def _encoder_grads(model, loss_fn):
    with tf.GradientTape() as tape:
        loss = loss_fn()
    return [g.numpy() for g in tape.gradient(loss, model.encoder.trainable_variables)]


def test_simsiam_stops_the_gradient_of_the_target_branch():
    model = models.SimSiam(tiny_encoder())
    v1, v2 = _views(seed=1)

    def reference(stop):  # each view alone through the branch, as SimSiam runs them
        z1, z2 = (model.projector(model.encoder(v, training=True), training=True) for v in (v1, v2))
        p1, p2 = model.predictor(z1, training=True), model.predictor(z2, training=True)
        t1, t2 = (tf.stop_gradient(z1), tf.stop_gradient(z2)) if stop else (z1, z2)
        return (losses.simsiam_loss(p1, t2) + losses.simsiam_loss(p2, t1)) / 2

    got = _encoder_grads(model, lambda: model.compute_objective((v1, v2), training=True)[0])
    with_stop = _encoder_grads(model, lambda: reference(True))
    without = _encoder_grads(model, lambda: reference(False))
    for a, b in zip(got, with_stop):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7)
    assert max(np.abs(a - b).max() for a, b in zip(got, without)) > 1e-5  # the check is not vacuous


def test_byol_loss_matches_numpy_on_model_outputs():
    model = models.BYOL(tiny_encoder())
    v1, v2 = _views(seed=2)
    loss, _ = model.compute_objective((v1, v2), training=False)
    both = np.concatenate([v1, v2])
    p = model.predictor(model.projector(model.encoder(both))).numpy()
    t = model.target_projector(model.target_encoder(both)).numpy()
    unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)
    p1, p2, t1, t2 = unit(p[:8]), unit(p[8:]), unit(t[:8]), unit(t[8:])
    want = np.mean(2 - 2 * (p1 * t2).sum(-1)) + np.mean(2 - 2 * (p2 * t1).sum(-1))
    np.testing.assert_allclose(loss.numpy(), want, rtol=1e-5)


def test_vicreg_logs_its_terms_and_rejects_bad_weights():
    model = models.VICReg(tiny_encoder())
    logs = _step(model, _views(seed=3))
    assert {"invariance", "variance", "covariance"} <= set(logs)
    with pytest.raises(ValueError, match="variance"):
        models.VICReg(tiny_encoder(), variance=-1.0)


def test_dino_teacher_sees_only_globals_and_center_follows_the_global_mean():
    model = models.DINO(tiny_encoder(), center_momentum=0.8)
    batch = _views(crops=4, seed=4)
    _, outputs = model.compute_objective(batch, training=True)
    assert len(outputs["teacher_logits"]) == model.num_global == 2
    # The center after one step, from the teacher logits of the step (numpy mean).
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    teacher = model.teacher_head(model.teacher_encoder(np.concatenate(batch[:2]), training=True), training=True)
    _step(model, batch)
    np.testing.assert_allclose(np.array(model.center), 0.2 * teacher.numpy().mean(0, keepdims=True),
                               rtol=1e-4, atol=1e-6)


def test_dino_teacher_temperature_warms_up_linearly():
    model = models.DINO(tiny_encoder(), warmup_teacher_temp=0.04, teacher_temp=0.07, warmup_teacher_temp_steps=4)
    model.compile(optimizer=keras.optimizers.SGD(0.01))
    temps = []
    for step in range(6):
        model.optimizer.iterations.assign(step)
        temps.append(float(model.current_teacher_temp()))
    np.testing.assert_allclose(temps, [0.04, 0.0475, 0.055, 0.0625, 0.07, 0.07], rtol=1e-6)


def test_dino_last_layer_frozen_for_the_first_steps():
    model = models.DINO(tiny_encoder(), freeze_last_layer_steps=1)
    batch = _views(crops=3, seed=5)
    start = np.array(model.head.last_layer)
    _step(model, batch, lr=0.5)
    np.testing.assert_array_equal(np.array(model.head.last_layer), start)
    _step(model, batch, lr=0.5)
    assert np.abs(np.array(model.head.last_layer) - start).max() > 0


def test_dino_last_layer_is_weight_normalised():
    head = DINOHead(hidden_dim=8, bottleneck_dim=4, output_dim=6)
    head.build((None, 5))
    head.last_layer.assign(np.random.default_rng(0).normal(size=(4, 6)) * 7)
    x = np.random.default_rng(1).normal(size=(3, 5)).astype("float32")
    v = np.array(head.last_layer)
    want = head.features(x).numpy() @ (v / np.linalg.norm(v, axis=0, keepdims=True))
    np.testing.assert_allclose(head(x).numpy(), want, rtol=1e-5, atol=1e-6)
