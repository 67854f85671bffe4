"""sslzoo.losses against independent float64 numpy formulas, finite differences and known values."""
import numpy as np
import pytest
import tensorflow as tf

from reference_losses import (
    np_normalize,
    np_margin_contrastive,
    np_nt_xent,
    np_info_nce,
    np_barlow_twins,
    np_sinkhorn,
    np_swav,
    np_clip,
    np_mil_nce,
)
from sslzoo import losses

RNG = np.random.RandomState(7)


def random_mask(b, k):
    mask = RNG.rand(b, k) < 0.6
    mask[np.arange(b), RNG.randint(0, k, b)] = True  # every clip keeps a real candidate
    return mask


# ----------------------------------------------------------------- value checks
SHAPES = [(2, 3), (5, 8), (16, 4)]


@pytest.mark.parametrize("b,d", SHAPES)
def test_pair_losses_match_numpy(b, d):
    x1, x2 = RNG.randn(b, d), RNG.randn(b, d)
    similar = (RNG.rand(b) < 0.5).astype(np.float64)
    queue = RNG.randn(7, d)
    cases = [
        (losses.margin_contrastive(x1, x2, similar, margin=2.0), np_margin_contrastive(x1, x2, similar, 2.0)),
        (losses.nt_xent(x1, x2, temperature=0.3), np_nt_xent(x1, x2, 0.3)),
        (losses.info_nce(x1, x2, temperature=0.2), np_info_nce(x1, x2, None, 0.2)),
        (losses.info_nce(x1, x2, queue, temperature=0.5), np_info_nce(x1, x2, queue, 0.5)),
        (losses.barlow_twins(x1, x2, lambd=0.01), np_barlow_twins(x1, x2, 0.01)),
        (losses.clip(x1, x2, 12.0), np_clip(x1, x2, 12.0)),
        (losses.nce(x1, x2, temperature=0.1), np_clip(x1, x2, 10.0)),
    ]
    for got, want in cases:
        assert got.dtype == tf.float32
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("b,k,crops,num_global", [(4, 3, 2, 2), (6, 5, 4, 2), (8, 10, 3, 1)])
def test_sinkhorn_and_swav_match_numpy(b, k, crops, num_global):
    scores = [0.5 * RNG.randn(b, k) for _ in range(crops)]
    np.testing.assert_allclose(
        losses.sinkhorn(scores[0], epsilon=0.1, iterations=4).numpy(), np_sinkhorn(scores[0], 0.1, 4), atol=1e-5
    )
    got = losses.swav(scores, num_global=num_global, temperature=0.2, epsilon=0.1, iterations=3)
    np.testing.assert_allclose(got.numpy(), np_swav(scores, num_global, 0.2, 0.1, 3), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("b,k,d", [(2, 1, 3), (4, 3, 5), (6, 4, 8)])
def test_mil_nce_matches_numpy(b, k, d):
    video, text, mask = RNG.randn(b, d), RNG.randn(b, k, d), random_mask(b, k)
    got = losses.mil_nce(video, text, mask, temperature=0.2)
    np.testing.assert_allclose(got.numpy(), np_mil_nce(video, text, mask, 0.2), rtol=1e-5, atol=1e-5)
    unmasked = losses.mil_nce(video, text, temperature=0.2)
    np.testing.assert_allclose(unmasked.numpy(), np_mil_nce(video, text, np.ones((b, k), bool), 0.2), rtol=1e-5)


# ----------------------------------------------------------------- gradients vs finite differences
def numpy_gradient(fn, x, step=1e-6):
    """Central finite differences of the float64 numpy formula."""
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[index] += step
        minus[index] -= step
        grad[index] = (fn(plus) - fn(minus)) / (2 * step)
    return grad


def tf_gradient(fn, x):
    x = tf.constant(x, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        value = fn(x)
    return tape.gradient(value, x).numpy()


@pytest.mark.parametrize("name", ["nt_xent", "barlow_twins", "mil_nce"])
def test_gradient_matches_finite_differences(name):
    b, k, d = 4, 3, 5
    other, mask = RNG.randn(b, k, d), random_mask(b, k)
    if name == "nt_xent":
        x, partner = RNG.randn(b, d), RNG.randn(b, d)
        tf_fn, np_fn = (lambda z: losses.nt_xent(z, partner, 0.5)), (lambda z: np_nt_xent(z, partner, 0.5))
    elif name == "barlow_twins":
        x, partner = RNG.randn(b + 2, d), RNG.randn(b + 2, d)
        tf_fn = lambda z: losses.barlow_twins(z, partner, 0.1)  # noqa: E731
        np_fn = lambda z: np_barlow_twins(z, partner, 0.1)  # noqa: E731
    else:
        x = RNG.randn(b, d)
        tf_fn = lambda v: losses.mil_nce(v, other, mask, 0.5)  # noqa: E731
        np_fn = lambda v: np_mil_nce(v, other, mask, 0.5)  # noqa: E731
    want = numpy_gradient(np_fn, x)
    got = tf_gradient(tf_fn, x)
    assert np.abs(want).max() > 1e-3  # the check is not vacuous
    np.testing.assert_allclose(got, want, rtol=1e-3, atol=1e-3 * np.abs(want).max())


# ----------------------------------------------------------------- known values and properties
def test_nt_xent_near_zero_for_identical_separated_views():
    views = np.eye(4, 6)
    assert losses.nt_xent(views, views, temperature=0.05).numpy() < 1e-6
    # Positive similarity 1, six orthogonal negatives: log(1 + 6 exp(-1/t)).
    got = losses.nt_xent(views, views, temperature=0.2).numpy()
    np.testing.assert_allclose(got, np.log1p(6 * np.exp(-1 / 0.2)), rtol=1e-5)


def test_sinkhorn_rows_sum_to_one_and_columns_approach_equipartition():
    b, k = 12, 4
    scores = tf.constant(0.3 * RNG.randn(b, k) + np.linspace(0, 0.5, k), tf.float32)
    errors = []
    for iterations in (1, 3, 10, 50):
        codes = losses.sinkhorn(scores, epsilon=0.05, iterations=iterations).numpy()
        np.testing.assert_allclose(codes.sum(1), np.ones(b), atol=1e-5)
        errors.append(np.abs(codes.sum(0) - b / k).max())
    assert all(later <= earlier + 1e-5 for earlier, later in zip(errors, errors[1:])), errors
    assert errors[-1] < 1e-3 < errors[0], errors


def test_nce_equals_clip_with_inverse_temperature():
    x, y = RNG.randn(6, 4), RNG.randn(6, 4)
    np.testing.assert_allclose(losses.nce(x, y, 0.07).numpy(), losses.clip(x, y, 1 / 0.07).numpy(), rtol=1e-6)


def test_learnable_scale_and_bool_labels_are_accepted():
    import keras

    x, y = RNG.randn(6, 4), RNG.randn(6, 4)
    log_scale = keras.Variable(np.log(10.0), dtype="float32")
    with tf.GradientTape() as tape:
        value = losses.clip(x, y, tf.exp(log_scale))
    np.testing.assert_allclose(value.numpy(), np_clip(x, y, 10.0), rtol=1e-5)
    assert abs(tape.gradient(value, log_scale.value).numpy()) > 0
    similar = np.array([True, False] * 3)
    np.testing.assert_allclose(
        losses.margin_contrastive(x, y, similar).numpy(), np_margin_contrastive(x, y, similar.astype(float), 1.0),
        rtol=1e-5,
    )


def test_fully_masked_mil_nce_candidate_changes_nothing():
    b, k, d = 5, 4, 6
    video, text, mask = RNG.randn(b, d), RNG.randn(b, k, d), random_mask(b, k)
    mask[:, 2] = False
    mask[np.arange(b), 0] = True
    garbage = text.copy()
    garbage[:, 2] = 1e3 * RNG.randn(b, d)
    kept = [0, 1, 3]
    want = losses.mil_nce(video, text[:, kept], mask[:, kept], temperature=0.1).numpy()
    np.testing.assert_allclose(losses.mil_nce(video, garbage, mask, temperature=0.1).numpy(), want, rtol=1e-6)


def all_losses(a, b, temperature=0.1):
    """Every loss on (B, D) inputs a, b (same dtype), as a dict of float32 scalars."""
    text = tf.stack([b, a], axis=1)
    return {
        "margin_contrastive": losses.margin_contrastive(a, b, tf.constant([1.0, 0.0] * (a.shape[0] // 2))),
        "nt_xent": losses.nt_xent(a, b, temperature),
        "info_nce": losses.info_nce(a, b, temperature=temperature),
        "info_nce_queue": losses.info_nce(a, b, tf.reverse(b, [0]), temperature=temperature),
        "barlow_twins": losses.barlow_twins(a, b),
        "swav": losses.swav([a, b, tf.reverse(a, [0])], num_global=2, temperature=temperature, epsilon=temperature),
        "sinkhorn": tf.reduce_sum(losses.sinkhorn(a, epsilon=temperature)),
        "clip": losses.clip(a, b, 1.0 / temperature),
        "nce": losses.nce(a, b, temperature),
        "mil_nce": losses.mil_nce(a, text, tf.constant([[True, False], [True, True]] * (a.shape[0] // 2)),
                                  temperature=temperature),
    }


@pytest.mark.parametrize("dtype", [tf.bfloat16, tf.float16])
def test_low_precision_inputs_give_finite_float32(dtype):
    a, b = tf.constant(RNG.randn(4, 8), dtype), tf.constant(RNG.randn(4, 8), dtype)
    full = all_losses(tf.cast(a, tf.float32), tf.cast(b, tf.float32))
    for name, value in all_losses(a, b).items():
        assert value.dtype == tf.float32, name
        assert np.isfinite(value.numpy()), name
        np.testing.assert_allclose(value.numpy(), full[name].numpy(), rtol=1e-5, err_msg=name)


def test_low_temperature_and_large_norm_give_finite_loss_and_gradients():
    a = tf.Variable(1e3 * np_normalize(RNG.randn(4, 8)), dtype=tf.float32)
    b = tf.constant(1e3 * np_normalize(RNG.randn(4, 8)), tf.float32)
    zero_row = tf.constant([[1.0] * 8, [0.0] * 8, [-1.0] * 8, [2.0] * 8])
    with tf.GradientTape(persistent=True) as tape:
        values = all_losses(a, b, temperature=0.01)
        values["nt_xent_zero_vector"] = losses.nt_xent(a, zero_row, 0.01)
    for name, value in values.items():
        assert np.isfinite(value.numpy()), name
        assert np.all(np.isfinite(tape.gradient(value, a).numpy())), name


def test_xla_compiled_losses_match_eager():
    a, b = tf.constant(RNG.randn(4, 8), tf.float32), tf.constant(RNG.randn(4, 8), tf.float32)
    eager = all_losses(a, b)
    compiled = tf.function(all_losses, jit_compile=True)(a, b)
    for name, value in eager.items():
        np.testing.assert_allclose(compiled[name].numpy(), value.numpy(), rtol=1e-5, err_msg=name)


def test_barlow_twins_terms_add_up_to_the_loss():
    z1, z2 = RNG.randn(12, 6), RNG.randn(12, 6)
    on, off = losses.barlow_twins_terms(z1.astype(np.float32), z2.astype(np.float32))
    np.testing.assert_allclose(float(on) + 0.3 * float(off), np_barlow_twins(z1, z2, 0.3), rtol=1e-5)
    np.testing.assert_allclose(float(on), np_barlow_twins(z1, z2, 0.0), rtol=1e-5)
