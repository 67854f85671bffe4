"""SwAV specifics: unit-norm prototypes, the embedding queue, Sinkhorn with a queue, small local crops."""
import keras
import numpy as np
import tensorflow as tf

import objective_harness as harness
from reference_losses import np_sinkhorn
from sslzoo import heads, losses, models


def test_sinkhorn_extra_rows_match_the_reference_on_all_rows():
    rng = np.random.default_rng(0)
    scores, queue = rng.normal(size=(6, 5)), rng.normal(size=(10, 5))
    expected = np_sinkhorn(np.concatenate([queue, scores]), 0.5, 3)[-6:]
    # float64: the queue-extended Sinkhorn is the reference to float64 rounding (codes <= 1,
    # ~30 chained ops x eps64 2.2e-16 ~ 7e-15) -> 1e-12.
    codes_64 = losses.sinkhorn(scores, np.float64(0.5), 3, extra_scores=queue)
    np.testing.assert_allclose(codes_64.numpy(), expected, rtol=0, atol=1e-12)
    codes = losses.sinkhorn(scores.astype(np.float32), 0.5, 3, extra_scores=queue.astype(np.float32))
    # float32 Sinkhorn vs float64 numpy: codes <= 1, exp of |s/eps| <= ~10 and 2 x iterations
    # normalisations -> eps32 x (10 + ~20 terms) ~ 4e-6 relative.
    np.testing.assert_allclose(codes.numpy(), expected, rtol=1e-5, atol=1e-6)


def crops(digits):
    view_1, view_2 = harness.fixed_views(digits[0][:16])
    return harness.batch_layout("swav", view_1, view_2)


def test_prototypes_stay_unit_norm(digits):
    model = harness.make_objective("swav")
    model.compile(optimizer=keras.optimizers.SGD(1.0))
    model.fit(tf.data.Dataset.from_tensors(crops(digits)).repeat(3), epochs=1, verbose=0)
    norms = np.linalg.norm(np.asarray(model.prototypes.kernel), axis=0)
    # unit columns after float32 normalisation: eps32 x D (<= 64) ~ 8e-6 -> rtol 1e-5.
    np.testing.assert_allclose(norms, 1.0, rtol=1e-5)


# Frozen prototypes (weights and optimizer slots, bit for bit): tests/test_stop_gradient.py.


def test_queue_fills_with_projections_and_is_then_used(digits):
    encoder = harness.tiny_encoder()
    model = models.SwAV(encoder, projector=heads.ProjectionHead((16,), 8), num_prototypes=6,
                        queue_length=32, queue_start_step=0)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    batch = crops(digits)
    model.fit(tf.data.Dataset.from_tensors(batch), epochs=1, verbose=0)
    assert int(np.asarray(model.queue_rows)) == 16
    queue = np.asarray(model.queue)
    # queued projections are float32 unit vectors: eps32 x D -> rtol 1e-5.
    np.testing.assert_allclose(np.linalg.norm(queue[:, :16], axis=-1), 1.0, rtol=1e-5)
    assert np.all(queue[:, 16:] == 0)
    model.fit(tf.data.Dataset.from_tensors(batch).repeat(2), epochs=1, verbose=0)
    assert int(np.asarray(model.queue_rows)) == 32
    # With a full queue, each global crop's codes are the last B rows of Sinkhorn over
    # [queue scores; batch scores] (main_swav.py: torch.cat((queue @ prototypes.T, out)), [-bs:]).
    with_queue = float(model.compute_objective(batch, training=False)[0])
    z = [np.asarray(p, np.float64) for p in model._projections(list(batch), training=False)]
    w = np.asarray(model.prototypes.kernel, np.float64)
    unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)
    scores = [unit(p) @ w for p in z]
    queue = np.asarray(model.queue, np.float64)

    def log_softmax(x):
        return x - np.log(np.exp(x - x.max(1, keepdims=True)).sum(1, keepdims=True)) - x.max(1, keepdims=True)

    terms = []
    for s in range(2):
        codes = np_sinkhorn(np.concatenate([unit(queue[s]) @ w, scores[s]]), model.epsilon, 3)[-len(z[s]):]
        terms.append(np.mean([-np.mean(np.sum(codes * log_softmax(scores[v] / model.temperature), 1))
                              for v in range(len(scores)) if v != s]))
    # float32 model vs float64 numpy on the model's own projections: exp(score / 0.05) turns a
    # score's eps32 rounding into 20 x eps32 ~ 2.4e-6 relative in the codes (measured 7.6e-8 on
    # the loss); codes from the wrong rows or an unnormalised queue move it far more -> rtol 1e-5.
    np.testing.assert_allclose(with_queue, np.mean(terms), rtol=1e-5)
    plain = models.SwAV.from_config({**model.get_config(), "queue_length": 0})
    plain.set_weights([w for w, v in zip(model.get_weights(), model.weights) if "queue" not in v.path])
    # ... and the queue matters: the queue-less loss is 1e-4 (relative) or more away.
    assert abs(with_queue - float(plain.compute_objective(batch, training=False)[0])) > 1e-4 * abs(with_queue)


def test_local_crops_smaller_than_the_encoder_input(digits, tmp_path):
    # The encoder takes 16x16 (as it is evaluated and exported); local crops are 8x8.
    encoder = harness.tiny_encoder()
    model = models.SwAV(encoder, projector=heads.ProjectionHead((16,), 8), num_prototypes=6)
    view_1, view_2 = harness.fixed_views(digits[0][:16])
    batch = (view_1, view_2, view_1[:, ::2, ::2], view_2[:, 1::2, 1::2])
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    before = [w.numpy().copy() for w in encoder.trainable_weights]
    history = model.fit(tf.data.Dataset.from_tensors(batch).repeat(2), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert model.encoder is encoder and encoder.input_shape == (None, 16, 16, 3)
    assert all(np.abs(w.numpy() - b).max() > 0 for w, b in zip(encoder.trainable_weights, before))
    # The crop encoder is not tracked, so its (shared) weights are not saved a second time.
    assert all(layer is not model.crop_encoder for layer in model._flatten_layers())
    path = str(tmp_path / "swav.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    # same weights, same float32 graph after a save/load: identical up to kernel choice (a few eps32).
    np.testing.assert_allclose(loaded.encoder(view_1, training=False), encoder(view_1, training=False),
                               rtol=1e-5, atol=1e-6)
    assert loaded.crop_encoder.input_shape == (None, None, None, 3)
