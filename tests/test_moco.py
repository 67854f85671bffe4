"""MoCo v2 / v3 specifics: the momentum update formula, a key encoder the optimizer never touches, the queue."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import objective_harness as harness


def one_step(model, views, learning_rate=0.5):
    model.compile(optimizer=keras.optimizers.SGD(learning_rate))
    model.fit(tf.data.Dataset.from_tensors(views), epochs=1, verbose=0)


@pytest.fixture(scope="module")
def views(digits):
    return harness.fixed_views(digits[0][:16])


def trainable_pairs(model):
    online = [v for v in model.encoder.variables + model.projector.variables if v.trainable]
    target = [t for o, t in zip(model.encoder.variables + model.projector.variables,
                                model.key_encoder.variables + model.key_projector.variables) if o.trainable]
    return online, target


def test_momentum_update_equals_formula(views):
    model = harness.make_objective("moco_v2")
    online, target = trainable_pairs(model)
    key_before = [np.asarray(t) for t in target]
    one_step(model, views)
    m = model.momentum
    for o, t, k0 in zip(online, target, key_before):
        np.testing.assert_allclose(np.asarray(t), m * k0 + (1 - m) * np.asarray(o), rtol=1e-5, atol=1e-6,
                                   err_msg=t.path)
    assert any(np.max(np.abs(np.asarray(t) - k0)) > 0 for t, k0 in zip(target, key_before))


def test_key_encoder_gets_no_gradient(views):
    model = harness.make_objective("moco_v2")
    key_ids = {id(v) for v in model.key_encoder.variables + model.key_projector.variables}
    assert not key_ids & {id(v) for v in model.trainable_variables}
    model.momentum = 1.0  # theta_k <- theta_k: only a gradient step could move the keys
    _, target = trainable_pairs(model)
    before = [np.asarray(t) for t in target]
    one_step(model, views, learning_rate=5.0)
    for t, b in zip(target, before):
        np.testing.assert_array_equal(np.asarray(t), b, err_msg=t.path)


def test_queue_receives_the_batch_keys_in_order(views):
    model = harness.make_objective("moco_v2")  # queue of 64 keys
    queue_before = np.asarray(model.queue)
    # The step's keys: the key branch (weights before the momentum update) on the second
    # view alone (the asymmetric v2 loss needs no keys of the first view); they are enqueued.
    expected = model.key_projector(model.key_encoder(views[1], training=True), training=True)
    one_step(model, views)
    queue = np.asarray(model.queue)
    assert int(np.asarray(model.queue_pointer)) == 16
    np.testing.assert_array_equal(queue[16:], queue_before[16:])
    np.testing.assert_allclose(queue[:16], tf.math.l2_normalize(expected, axis=1).numpy(), rtol=1e-4, atol=1e-5)


def test_queue_must_divide_by_the_global_batch(digits):
    view_1, view_2 = harness.fixed_views(digits[0][:12])
    from sslzoo import heads, models

    model = models.MoCoV2(harness.tiny_encoder(), projector=heads.ProjectionHead((16,), 8), queue_size=64)
    with pytest.raises(ValueError, match=r"queue_size.*64.*divisible by the keys enqueued per step \(12"):
        one_step(model, (view_1, view_2))


def test_v3_momentum_schedule_rises_to_one():
    model = harness.make_objective("moco_v3")  # m0 = 0.99 over 20 steps
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    for step, expected in [(0, 0.99), (10, 1 - 0.01 * (np.cos(np.pi / 2) + 1) / 2), (20, 1.0), (30, 1.0)]:
        model.optimizer.iterations.assign(step)
        assert float(model.current_momentum()) == pytest.approx(expected, abs=1e-7)


def test_bad_arguments_name_themselves():
    from sslzoo import models

    with pytest.raises(ValueError, match="momentum"):
        models.MoCoV3(harness.tiny_encoder(), momentum=1.5)
    with pytest.raises(ValueError, match="queue_size"):
        models.MoCoV2(harness.tiny_encoder(), queue_size=0)
    with pytest.raises(ValueError, match="momentum_schedule_steps"):
        models.MoCoV3(harness.tiny_encoder(), momentum_schedule_steps=0)


def test_symmetric_v2_enqueues_both_directions_keys(views):
    from sslzoo import heads, models

    model = models.MoCoV2(harness.tiny_encoder(), projector=heads.ProjectionHead((16,), 8), queue_size=64,
                          symmetric=True)
    # The step's keys: the key branch (weights before the momentum update) on each view's
    # batch of 16 on its own, so batch norm sees the same statistics as in the step.
    k_1, k_2 = (model.key_projector(model.key_encoder(v, training=True), training=True) for v in views)
    both = model.key_projector(model.key_encoder(tf.concat(views, 0), training=True), training=True)
    one_step(model, views)
    assert int(np.asarray(model.queue_pointer)) == 32  # 2 x 16 keys, enqueued once
    # The official demo's order: torch.cat([k1, k2]).
    expected = tf.math.l2_normalize(tf.concat([k_1, k_2], 0), axis=1).numpy()
    # Eager here vs the traced step: float32 kernels may sum in another order (as in the test above).
    np.testing.assert_allclose(np.asarray(model.queue)[:32], expected, rtol=1e-4, atol=1e-5)
    # Per-view statistics: the keys of both views as one batch of 32 (the old behaviour) differ.
    assert np.max(np.abs(tf.math.l2_normalize(both, axis=1).numpy() - expected)) > 1e-3


def test_key_encoder_normalises_with_batch_statistics(views):
    """Like MoCo's key encoder: in training mode its batch norm uses the batch, not moving stats."""
    model = harness.make_objective("moco_v2")
    queries = model.encoder(views[0], training=True)
    keys = model.key_encoder(views[0], training=True)
    np.testing.assert_allclose(keys, queries, rtol=1e-4, atol=1e-5)  # same weights, same statistics
    assert not model.key_encoder.trainable_weights
