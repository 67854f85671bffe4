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
EPS32 = float(np.finfo(np.float32).eps)  # 1.19e-7
# float64 inputs compute in float64: loss and numpy formula then differ only by float64
# rounding (eps 2.2e-16) of a few hundred operations on values <= ~20 -> measured <= 2e-15
# relative; 1e-12 leaves 500x headroom and still fails on any formula difference.
RTOL64 = 1e-12
# Hyperparameters are passed as np.float64 so float64 runs stay float64: a Python float is
# today rounded to float32 by the loss (test_python_float_hyperparameters_stay_float64).
F64 = np.float64


def float32_bound(want, magnitude, terms):
    """First-order float32 error of a loss evaluated from float32-rounded inputs.

    Every input and operation rounds with relative error eps32 = 1.2e-7; errors add along
    the longest chain, `terms` (a D-term dot product adds D, a softmax over n logits adds
    log2(n), plus a few elementwise ops), scaled by the largest intermediate, `magnitude`
    (|logit| <= 1/temperature or the scale) or the loss itself. A worst-case bound, not a
    tuned one: the measured errors are 1-14 eps x max(magnitude, |loss|) on Intel AMX and
    with oneDNN on or off.
    """
    return EPS32 * terms * max(magnitude, abs(float(want)))


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

    def cases(cast):
        a, c, q = cast(x1), cast(x2), cast(queue)
        return [
            (losses.margin_contrastive(a, c, similar, margin=F64(2.0)), np_margin_contrastive(x1, x2, similar, 2.0)),
            (losses.nt_xent(a, c, temperature=F64(0.3)), np_nt_xent(x1, x2, 0.3)),
            (losses.info_nce(a, c, temperature=F64(0.2)), np_info_nce(x1, x2, None, 0.2)),
            (losses.info_nce(a, c, q, temperature=F64(0.5)), np_info_nce(x1, x2, queue, 0.5)),
            (losses.barlow_twins(a, c, lambd=F64(0.01)), np_barlow_twins(x1, x2, 0.01)),
            (losses.clip(a, c, F64(12.0)), np_clip(x1, x2, 12.0)),
            (losses.nce(a, c, temperature=F64(0.1)), np_clip(x1, x2, 10.0)),
        ]

    for got, want in cases(lambda x: x):  # float64: the formula itself, to rounding
        assert got.dtype == tf.float64
        np.testing.assert_allclose(got.numpy(), want, rtol=RTOL64)
    # float32: largest |logit| is the clip scale 12; longest chain a D-term dot product, a
    # softmax over <= 2B + 7 logits and ~4 elementwise ops.
    terms = d + np.log2(2 * b + 7) + 4
    for got, want in cases(lambda x: x.astype(np.float32)):
        assert got.dtype == tf.float32
        np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=float32_bound(want, 12.0, terms))


def test_python_float_hyperparameters_stay_float64():
    x1, x2 = RNG.randn(5, 8), RNG.randn(5, 8)
    np.testing.assert_allclose(losses.nt_xent(x1, x2, 0.3).numpy(), np_nt_xent(x1, x2, 0.3), rtol=RTOL64)
    np.testing.assert_allclose(losses.barlow_twins(x1, x2, 0.01).numpy(), np_barlow_twins(x1, x2, 0.01), rtol=RTOL64)


@pytest.mark.parametrize("b,k,crops,num_global", [(4, 3, 2, 2), (6, 5, 4, 2), (8, 10, 3, 1)])
def test_sinkhorn_and_swav_match_numpy(b, k, crops, num_global):
    scores = [0.5 * RNG.randn(b, k) for _ in range(crops)]
    want_codes, want = np_sinkhorn(scores[0], 0.1, 4), np_swav(scores, num_global, 0.2, 0.1, 3)
    codes = losses.sinkhorn(scores[0], epsilon=F64(0.1), iterations=4).numpy()  # float64: codes <= 1
    np.testing.assert_allclose(codes, want_codes, rtol=0, atol=RTOL64)
    got = losses.swav(scores, num_global=num_global, temperature=F64(0.2), epsilon=F64(0.1), iterations=3)
    np.testing.assert_allclose(got.numpy(), want, rtol=RTOL64)
    # float32: exp(s / epsilon) with |s / epsilon| <= 12 (largest intermediate); each of the
    # 2 x iterations normalisations sums <= max(B, K) terms; then log-softmax over K; codes <= 1.
    low = [s.astype(np.float32) for s in scores]
    magnitude = np.abs(scores).max() / 0.1
    terms = 2 * 4 * (1 + np.log2(max(b, k))) + np.log2(k) + 4
    codes_32 = losses.sinkhorn(low[0], epsilon=0.1, iterations=4).numpy()
    np.testing.assert_allclose(codes_32, want_codes, rtol=0, atol=EPS32 * (magnitude + terms))
    got_32 = losses.swav(low, num_global=num_global, temperature=0.2, epsilon=0.1, iterations=3).numpy()
    np.testing.assert_allclose(got_32, want, rtol=0, atol=float32_bound(want, magnitude, terms))


@pytest.mark.parametrize("b,k,d", [(2, 1, 3), (4, 3, 5), (6, 4, 8)])
def test_mil_nce_matches_numpy(b, k, d):
    video, text, mask = RNG.randn(b, d), RNG.randn(b, k, d), random_mask(b, k)
    want = np_mil_nce(video, text, mask, 0.2)
    np.testing.assert_allclose(losses.mil_nce(video, text, mask, temperature=F64(0.2)).numpy(), want, rtol=RTOL64)
    unmasked = losses.mil_nce(video, text, temperature=F64(0.2))
    np.testing.assert_allclose(unmasked.numpy(), np_mil_nce(video, text, np.ones((b, k), bool), 0.2), rtol=RTOL64)
    # float32: |logit| <= 1/t = 5, a D-term dot product, log-sum-exp over <= 2BK candidates.
    got = losses.mil_nce(video.astype(np.float32), text.astype(np.float32), mask, temperature=0.2)
    np.testing.assert_allclose(got.numpy(), want, rtol=0, atol=float32_bound(want, 5.0, d + np.log2(2 * b * k) + 4))


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
    x = tf.constant(x, tf.float64)
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
        tf_fn, np_fn = (lambda z: losses.nt_xent(z, partner, F64(0.5))), (lambda z: np_nt_xent(z, partner, 0.5))
    elif name == "barlow_twins":
        x, partner = RNG.randn(b + 2, d), RNG.randn(b + 2, d)
        tf_fn = lambda z: losses.barlow_twins(z, partner, F64(0.1))  # noqa: E731
        np_fn = lambda z: np_barlow_twins(z, partner, 0.1)  # noqa: E731
    else:
        x = RNG.randn(b, d)
        tf_fn = lambda v: losses.mil_nce(v, other, mask, F64(0.5))  # noqa: E731
        np_fn = lambda v: np_mil_nce(v, other, mask, 0.5)  # noqa: E731
    want = numpy_gradient(np_fn, x)
    got = tf_gradient(tf_fn, x)
    assert np.abs(want).max() > 1e-3  # the check is not vacuous
    # Both in float64. Central differences with h = 1e-6 err by rounding eps64 |f| / h
    # (2.2e-16 x |f| <= 10 / 1e-6 = 2e-9) plus truncation h^2 |third derivative| / 6 (~1e-12): 1e-7 x max(1, max|grad|)
    # leaves >= 50x over the rounding term; a wrong gradient errs by O(max|grad|).
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-7 * max(1.0, np.abs(want).max()))


# ----------------------------------------------------------------- known values and properties
def test_nt_xent_near_zero_for_identical_separated_views():
    views = np.eye(4, 6)  # float64
    # Positive similarity 1, six orthogonal negatives: log(1 + 6 exp(-1/t)) (1.2e-8 at t = 0.05).
    # The loss is logsumexp - positive logit with logits 1/t <= 20: float64 cancellation leaves
    # eps64 x 20 = 4.4e-15 absolute, so atol 1e-13 (x20 headroom) plus RTOL64 on the value.
    for t in (0.05, 0.2):
        got = losses.nt_xent(views, views, temperature=F64(t)).numpy()
        np.testing.assert_allclose(got, np.log1p(6 * np.exp(-1 / t)), rtol=RTOL64, atol=1e-13)


def test_sinkhorn_rows_sum_to_one_and_columns_approach_equipartition():
    b, k = 12, 4
    scores = 0.3 * RNG.randn(b, k) + np.linspace(0, 0.5, k)  # float64: rounding <= 1e-15 on codes <= 1
    errors = []
    for iterations in (1, 3, 10, 50):
        codes = losses.sinkhorn(scores, epsilon=F64(0.05), iterations=iterations).numpy()
        # Rows sum to one by construction (the last step normalises them), so the row sums
        # alone catch nothing: the codes are checked entry by entry against numpy.
        np.testing.assert_allclose(codes, np_sinkhorn(scores, 0.05, iterations), rtol=0, atol=RTOL64)
        errors.append(np.abs(codes.sum(0) - b / k).max())
    # Column sums (not normalised last) approach B/K = 3 monotonically: float64 rounding 1e-12 slack.
    assert all(later <= earlier + RTOL64 for earlier, later in zip(errors, errors[1:])), errors
    # The column offsets linspace(0, 0.5) / epsilon make one iteration miss equipartition by
    # O(1) (measured 2.0); Sinkhorn converges linearly, so 50 iterations reach < 1e-3 (measured 3.5e-6).
    assert errors[-1] < 1e-3 < errors[0], errors


def test_nce_equals_clip_with_inverse_temperature():
    x, y = RNG.randn(6, 4), RNG.randn(6, 4)  # float64: the identity to rounding
    np.testing.assert_allclose(losses.nce(x, y, F64(0.07)).numpy(), losses.clip(x, y, F64(1 / 0.07)).numpy(),
                               rtol=RTOL64)


def test_learnable_scale_and_bool_labels_are_accepted():
    import keras

    x, y = RNG.randn(6, 4), RNG.randn(6, 4)
    log_scale = keras.Variable(np.log(10.0), dtype="float64")  # float64 throughout: RTOL64
    with tf.GradientTape() as tape:
        value = losses.clip(x, y, tf.exp(log_scale))
    np.testing.assert_allclose(value.numpy(), np_clip(x, y, 10.0), rtol=RTOL64)
    assert abs(tape.gradient(value, log_scale.value).numpy()) > 0
    similar = np.array([True, False] * 3)
    np.testing.assert_allclose(
        losses.margin_contrastive(x, y, similar).numpy(), np_margin_contrastive(x, y, similar.astype(float), 1.0),
        rtol=RTOL64,
    )


def test_fully_masked_mil_nce_candidate_changes_nothing():
    b, k, d = 5, 4, 6
    video, text, mask = RNG.randn(b, d), RNG.randn(b, k, d), random_mask(b, k)
    mask[:, 2] = False
    mask[np.arange(b), 0] = True
    garbage = text.copy()
    garbage[:, 2] = 1e3 * RNG.randn(b, d)
    kept = [0, 1, 3]
    want = losses.mil_nce(video, text[:, kept], mask[:, kept], temperature=F64(0.1)).numpy()
    # float64; the masked logit's exp(-1e9 - max) is exactly 0, only the sum order differs: RTOL64.
    got = losses.mil_nce(video, garbage, mask, temperature=F64(0.1)).numpy()
    np.testing.assert_allclose(got, want, rtol=RTOL64)


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
        # Codes weighted by the scores: their plain sum is B by construction and would catch nothing.
        "sinkhorn": tf.reduce_sum((lambda q: q * tf.cast(a, q.dtype))(losses.sinkhorn(a, epsilon=temperature))),
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
        # The loss casts to float32 first, so it runs the same float32 ops on the same values as
        # `full`: bitwise equal (measured 0 difference, oneDNN on and off).
        np.testing.assert_array_equal(value.numpy(), full[name].numpy(), err_msg=name)


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
        # XLA fuses and reorders float32 sums: |logit| <= 1/t = 10, the longest chain is SwAV's
        # 3 Sinkhorn iterations (2 x 3 x (1 + log2 8) = 18) + log-softmax (3) + ops (4) <= 32 terms.
        # Measured <= 8 eps abs.
        np.testing.assert_allclose(compiled[name].numpy(), value.numpy(), rtol=0,
                                   atol=float32_bound(value, 10.0, 32), err_msg=name)


def test_barlow_twins_terms_add_up_to_the_loss():
    z1, z2 = RNG.randn(12, 6), RNG.randn(12, 6)
    on, off = losses.barlow_twins_terms(z1, z2)  # float64: the decomposition to rounding (RTOL64)
    np.testing.assert_allclose(float(on) + 0.3 * float(off), np_barlow_twins(z1, z2, 0.3), rtol=RTOL64)
    np.testing.assert_allclose(float(on), np_barlow_twins(z1, z2, 0.0), rtol=RTOL64)
