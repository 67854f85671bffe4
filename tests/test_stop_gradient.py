"""What must get no gradient gets none: MoCo's key branch, SwAV's codes, SwAV's frozen prototypes.

- MoCo v2 / v3: a tape on the loss reaches no key-branch variable, and after fit
  steps with SGD momentum and weight decay the key weights are exactly the EMA
  formula of the online weights (float64): no optimizer step touched them.
- SwAV: the gradient of the loss with respect to the prototypes is the numpy
  gradient with the Sinkhorn codes held constant (float64).
- SwAV frozen prototypes: during the frozen steps neither the prototypes nor
  their optimizer slots change, bit for bit, under SGD with momentum and
  (decoupled) weight decay, LARS (coupled decay) and AdamW.
"""
import keras
import numpy as np
import pytest
import tensorflow as tf

import objective_harness as harness
from sslzoo import heads, models, optimizers
from sslzoo.optimizers import LARS
from test_pinned_losses import B, batch_norm, channel_mean_encoder, linear_head, normalize, sinkhorn

# float64 on both sides, a few dozen operations per value: ~1e-15 relative; 1e-12 is headroom.
RTOL = 1e-12


@pytest.fixture
def float64():
    harness.set_float_dtype("float64")
    yield
    harness.set_float_dtype("float32")


def views(digits, count=16):
    return harness.fixed_views(digits[0][:count])


def moco(name):
    # m = 0.75 is exact in float32 too (the base class passes m through float32).
    encoder = harness.tiny_encoder()
    projector = heads.ProjectionHead((16,), 8, synchronized_bn=True)
    if name == "moco_v2":
        return models.MoCoV2(encoder, projector=projector, queue_size=32, momentum=0.75)
    predictor = heads.PredictionHead(16, 8, synchronized_bn=True)
    return models.MoCoV3(encoder, projector=projector, predictor=predictor, momentum=0.75)


def key_pairs(model):
    """(online variable, its momentum copy) for every trainable variable of the key branch."""
    online = model.encoder.variables + model.projector.variables
    keys = model.key_encoder.variables + model.key_projector.variables
    return [(o, k) for o, k in zip(online, keys) if o.trainable]


@pytest.mark.parametrize("name", ["moco_v2", "moco_v3"])
def test_no_gradient_reaches_the_key_branch(name, digits):
    model = moco(name)
    key_variables = [k for _, k in key_pairs(model)]
    watched = [k.value for k in key_variables]  # the tf.Variables behind the Keras variables
    batch = tuple(tf.constant(v) for v in views(digits))
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(watched)
        loss, _ = model.compute_objective(batch, training=True)
    assert len(watched) > 4 and all(g is None for g in tape.gradient(loss, watched))
    assert not {id(k) for k in key_variables} & {id(v) for v in model.trainable_variables}


@pytest.mark.parametrize("name", ["moco_v2", "moco_v3"])
def test_key_weights_move_only_by_the_momentum_formula(name, digits, float64):
    model = moco(name)
    model.compile(optimizer=keras.optimizers.SGD(0.5, momentum=0.9, weight_decay=0.1))
    data = tf.data.Dataset.from_tensors(harness.as_dtype(views(digits), "float64"))
    pairs = key_pairs(model)
    for step in range(2):
        keys_before = [np.asarray(k) for _, k in pairs]
        online_before = [np.asarray(o) for o, _ in pairs]
        model.fit(data, epochs=1, verbose=0)
        for (online, key), k_0, o_0 in zip(pairs, keys_before, online_before):
            expected = 0.75 * k_0 + 0.25 * np.asarray(online)
            np.testing.assert_allclose(np.asarray(key), expected, rtol=RTOL, atol=1e-15, err_msg=key.path)
        # the online weights did move (momentum + weight decay), so an optimizer step on the keys would show
        assert any(np.max(np.abs(np.asarray(o) - o_0)) > 1e-3 for (o, _), o_0 in zip(pairs, online_before))


def test_swav_codes_get_no_gradient(float64):
    rng = np.random.default_rng(3)
    crops = tuple(rng.uniform(size=(B, 4, 4, 3)) for _ in range(3))
    a = rng.normal(size=(3, 4))
    model = models.SwAV(channel_mean_encoder(), projector=linear_head(a, last_bn=True), num_prototypes=5,
                        temperature=0.1, epsilon=0.05, sinkhorn_iterations=3)
    kernel = model.prototypes.kernel
    with tf.GradientTape() as tape:
        loss, _ = model.compute_objective(crops, training=True)
    gradient = tape.gradient(loss, kernel).numpy()

    # numpy: scores_v = n(z_v) W; loss = mean_s mean_{v != s} -mean_b sum_k q_s log softmax(scores_v / t),
    # so with the codes q_s constant dL/dscores_v = sum_{s != v} (softmax(scores_v / t) - q_s) / (t G (V-1) B)
    # (each code row sums to 1). A gradient through the codes would add terms for v = s.
    w = np.asarray(kernel)
    z = np.split(normalize(batch_norm(np.concatenate([c.mean(axis=(1, 2)) @ a for c in crops]))), 3)
    scores = [zv @ w for zv in z]
    codes = [sinkhorn(scores[s], 0.05, 3) for s in range(2)]
    expected = np.zeros_like(w)
    for v in range(3):
        p = np.exp(scores[v] / 0.1)
        p /= p.sum(1, keepdims=True)
        d_scores = sum((p - codes[s]) / (0.1 * 2 * 2 * B) for s in range(2) if s != v)
        expected += z[v].T @ d_scores
    np.testing.assert_allclose(gradient, expected, rtol=1e-10, atol=1e-13)


OPTIMIZERS = {
    "sgd_momentum_decay": lambda: keras.optimizers.SGD(0.5, momentum=0.9, weight_decay=0.1),
    "lars": lambda: LARS(0.5, momentum=0.9, weight_decay=0.1),
    "adamw": lambda: keras.optimizers.AdamW(0.05, weight_decay=0.1),
}


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_frozen_prototypes_and_their_optimizer_slots_stay_unchanged(optimizer, digits):
    model = models.SwAV(harness.tiny_encoder(), projector=heads.ProjectionHead((16,), 8), num_prototypes=6,
                        freeze_prototypes_steps=2)
    model.compile(optimizer=OPTIMIZERS[optimizer]())
    view_1, view_2 = views(digits)
    data = tf.data.Dataset.from_tensors(harness.batch_layout("swav", view_1, view_2))
    kernel = model.prototypes.kernel
    initial = np.asarray(kernel).copy()
    for step in range(1, 4):
        model.fit(data, epochs=1, verbose=0)
        slots = optimizers.slot_variables(model.optimizer, kernel, model.trainable_variables)
        assert slots, f"{optimizer} keeps no state for the prototypes"
        if step <= 2:  # bit for bit: weights and every slot as before the first step
            np.testing.assert_array_equal(np.asarray(kernel), initial, err_msg=f"step {step}")
            for slot in slots:
                np.testing.assert_array_equal(np.asarray(slot), 0.0, err_msg=f"{slot.path} at step {step}")
        else:
            assert np.max(np.abs(np.asarray(kernel) - initial)) > 1e-4, "prototypes did not move after the freeze"
            assert any(np.max(np.abs(np.asarray(slot))) > 0 for slot in slots)
    # The encoder trained all along.
    assert int(model.optimizer.iterations) == 3
