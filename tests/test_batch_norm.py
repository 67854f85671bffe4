"""`sslzoo.backbones.batch_norm.BatchNorm` against batch normalisation written out in numpy."""
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from sslzoo.backbones.batch_norm import BatchNorm
from sslzoo.backbones.video import VolumeBatchNorm
from testing_utils import run_python

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
EPSILON = 1e-5
MOMENTUM = 0.9


def numpy_batch_norm(x, gamma, beta, upstream):
    """Training-mode BN over all but the last axis, float64.

    Returns (y, mean, biased variance, dL/dx, dL/dgamma, dL/dbeta) for L = sum(y * upstream).
    """
    x, upstream = x.astype(np.float64), upstream.astype(np.float64)
    axes = tuple(range(x.ndim - 1))
    n = x.size // x.shape[-1]
    mean = x.mean(axes)
    variance = ((x - mean) ** 2).mean(axes)
    inv_std = 1.0 / np.sqrt(variance + EPSILON)
    x_hat = (x - mean) * inv_std
    y = x_hat * gamma + beta
    d_beta = upstream.sum(axes)
    d_gamma = (upstream * x_hat).sum(axes)
    d_x_hat = upstream * gamma
    d_x = inv_std / n * (n * d_x_hat - d_x_hat.sum(axes) - x_hat * (d_x_hat * x_hat).sum(axes))
    return y, mean, variance, d_x, d_gamma, d_beta


def _case(shape, seed=0, offset=0.0):
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=shape) * 2.0 + offset).astype(np.float32)
    upstream = rng.normal(size=shape).astype(np.float32)
    channels = shape[-1]
    gamma = rng.uniform(0.5, 1.5, channels).astype(np.float32)
    beta = rng.normal(size=channels).astype(np.float32)
    return x, upstream, gamma, beta


def _train_step(layer, x, upstream):
    x = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(y * upstream)
    grads = tape.gradient(loss, [x] + layer.trainable_variables)
    return y.numpy(), [g.numpy() for g in grads]


@pytest.mark.parametrize("shape, layer_class", [((16, 5), BatchNorm), ((6, 3, 4, 5), BatchNorm),
                                                ((2, 3, 3, 4, 5), VolumeBatchNorm)])
def test_training_step_matches_numpy_in_float64(shape, layer_class):
    # float64 layer and inputs: the layer is the formula up to float64 rounding of sums of
    # n <= 72 terms of magnitude <= ~10 (eps64 2.2e-16 x 72 x 10 = 1.6e-13) -> 1e-12.
    # VolumeBatchNorm folds (B, T, H, W, C) to (B*T, H, W, C) after being built for rank 5.
    x, upstream, gamma, beta = (a.astype(np.float64) for a in _case(shape))
    layer = layer_class(momentum=MOMENTUM, epsilon=EPSILON, dtype="float64")
    layer.build(shape)
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    y, (d_x, d_gamma, d_beta) = _train_step(layer, x, upstream)
    ref_y, mean, variance, ref_d_x, ref_d_gamma, ref_d_beta = numpy_batch_norm(x, gamma, beta, upstream)
    for got, want in ((y, ref_y), (d_x, ref_d_x), (d_gamma, ref_d_gamma), (d_beta, ref_d_beta)):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.moving_mean.numpy(), (1 - MOMENTUM) * mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(layer.moving_variance.numpy(), MOMENTUM + (1 - MOMENTUM) * variance, rtol=1e-12)


@pytest.mark.parametrize("shape", [(16, 5), (6, 3, 4, 5)])
def test_training_step_matches_numpy(shape):
    x, upstream, gamma, beta = _case(shape)
    layer = BatchNorm(momentum=MOMENTUM, epsilon=EPSILON)
    layer.build(shape)
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    y, (d_x, d_gamma, d_beta) = _train_step(layer, x, upstream)
    ref_y, mean, variance, ref_d_x, ref_d_gamma, ref_d_beta = numpy_batch_norm(x, gamma, beta, upstream)
    # float32 (the float64 test above proves the formula): |x| <= ~8 (N(0, 2)), mean and variance
    # sum n <= 72 terms (log2 72 ~ 6 eps pairwise, up to 72 eps sequential), then ~5 ops:
    # y: eps32 1.2e-7 x ~80 x |x| 8 ~ 8e-5 worst -> rtol 1e-4 + atol 1e-5.
    np.testing.assert_allclose(y, ref_y, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(d_x, ref_d_x, rtol=1e-4, atol=1e-5)
    # d_gamma, d_beta: sums of n <= 72 products |upstream x_hat| <= ~9: eps32 x 72 x 9 ~ 8e-5 -> atol 1e-4.
    np.testing.assert_allclose(d_gamma, ref_d_gamma, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(d_beta, ref_d_beta, rtol=1e-4, atol=1e-4)
    # Moving statistics start at (0, 1) and move towards the biased batch moments; float32
    # rounding of a mean of n <= 72 terms: ~eps32 x log2(n) relative -> rtol 1e-5 (atol for mean ~0).
    np.testing.assert_allclose(layer.moving_mean.numpy(), (1 - MOMENTUM) * mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.moving_variance.numpy(), MOMENTUM + (1 - MOMENTUM) * variance,
                               rtol=1e-5)


def test_without_scale_and_centre_normalises_to_zero_mean_unit_variance():
    x, upstream, _, _ = _case((32, 7), seed=1, offset=3.0)
    layer = BatchNorm(center=False, scale=False, epsilon=EPSILON)
    y, _ = _train_step(layer, x, upstream)
    assert layer.trainable_variables == []
    ref_y = numpy_batch_norm(x, 1.0, 0.0, upstream)[0]
    np.testing.assert_allclose(y, ref_y, rtol=1e-4, atol=1e-5)  # float32, as in test_training_step_matches_numpy


def test_inference_uses_moving_statistics():
    x, _, gamma, beta = _case((8, 4), seed=2)
    layer = BatchNorm(epsilon=EPSILON)
    layer.build(x.shape)
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    layer.moving_mean.assign([0.5, -1.0, 2.0, 0.0])
    layer.moving_variance.assign([1.0, 4.0, 0.25, 9.0])
    y = np.asarray(layer(x, training=False))
    expected = (x - [0.5, -1.0, 2.0, 0.0]) / np.sqrt(np.array([1.0, 4.0, 0.25, 9.0]) + EPSILON) * gamma + beta
    # float32 x, 4 elementwise ops on |x| <= 8 (no sums): 4 x eps32 x 8 = 4e-6 -> rtol/atol 1e-5.
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_mixed_bfloat16_returns_compute_dtype_with_float32_statistics():
    x, _, _, _ = _case((8, 2, 2, 3), seed=3)
    layer = BatchNorm(momentum=MOMENTUM, dtype="mixed_bfloat16")
    y = layer(tf.cast(x, "bfloat16"), training=True)
    assert y.dtype == tf.bfloat16
    assert layer.moving_mean.dtype == "float32"
    # x rounded to bfloat16 (8 mantissa bits: relative 2^-8 = 3.9e-3) on |x| <= ~6, mean x 0.1:
    # <= 0.1 x 6 x 3.9e-3 = 2.3e-3, plus the moving update's bfloat16-input rounding: 0.02 = ~8x that.
    np.testing.assert_allclose(layer.moving_mean.numpy(), 0.1 * x.reshape(-1, 3).mean(0), atol=0.02)


def test_float64_layer_called_on_float32_values_returns_float64():
    x, upstream, gamma, beta = _case((16, 3), seed=4)
    layer = BatchNorm(momentum=MOMENTUM, epsilon=EPSILON, dtype="float64")
    layer.build(x.shape)
    layer.gamma.assign(gamma.astype(np.float64))
    layer.beta.assign(beta.astype(np.float64))
    y = np.asarray(layer(x.astype(np.float64), training=True))
    assert y.dtype == np.float64
    # float64 all through (the float32-valued inputs are exact in float64): rounding only -> 1e-12.
    np.testing.assert_allclose(y, numpy_batch_norm(x, gamma, beta, upstream)[0], rtol=1e-12, atol=1e-12)


def test_keras_round_trip_keeps_the_class(tmp_path):
    model = keras.Sequential([keras.Input((4,)), BatchNorm(name="bn")])
    model.layers[0].moving_mean.assign([1.0, 2.0, 3.0, 4.0])
    path = str(tmp_path / "bn.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert type(loaded.layers[0]) is BatchNorm
    np.testing.assert_array_equal(loaded.layers[0].moving_mean.numpy(), [1.0, 2.0, 3.0, 4.0])


SYNCHRONIZED_SCRIPT = """
import numpy as np
import tensorflow as tf
from sslzoo.backbones.batch_norm import BatchNorm
from sslzoo.backbones.video import VolumeBatchNorm
from testing_utils import write_result

rng = np.random.default_rng(0)
# |mean| / std = 1e3: one-pass E[x^2] - E[x]^2 loses the variance here in float32.
x = (rng.normal(size=(8, 2, 2, 3)) + 1000.0).astype(np.float32)
upstream = rng.normal(size=x.shape).astype(np.float32)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    layer = BatchNorm(synchronized=True, momentum=0.9, epsilon=1e-5)
    layer.build(x.shape)

def replica_fn(x, upstream):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(y * upstream)
    d_x, d_gamma, d_beta = tape.gradient(loss, [x, layer.gamma, layer.beta])
    return y, d_x, d_gamma, d_beta

data = tf.data.Dataset.from_tensors((x, upstream)).unbatch().batch(8)
batch = next(iter(strategy.experimental_distribute_dataset(data)))
y, d_x, d_gamma, d_beta = strategy.run(tf.function(replica_fn), args=batch)
local = lambda t: np.concatenate([v.numpy() for v in strategy.experimental_local_results(t)])
write_result({
    "x": x.tolist(), "upstream": upstream.tolist(),
    "y": local(y).tolist(), "d_x": local(d_x).tolist(),
    "d_gamma": [v.numpy().tolist() for v in strategy.experimental_local_results(d_gamma)],
    "moving_mean": [v.numpy().tolist() for v in layer.moving_mean.value.values],
    "moving_variance": [v.numpy().tolist() for v in layer.moving_variance.value.values],
})
"""


@pytest.mark.subprocess
def test_synchronized_two_replicas_equal_global_batch_formula(tmp_path):
    result = run_python(f"import sys; sys.path.insert(0, {TESTS_DIR!r})\n" + SYNCHRONIZED_SCRIPT, tmp_path=tmp_path)
    x, upstream = np.array(result["x"]), np.array(result["upstream"])
    ref_y, mean, variance, ref_d_x, ref_d_gamma, _ = numpy_batch_norm(x, np.ones(3), np.zeros(3), upstream)
    assert variance.min() > 0.5  # the global variance of N(1000, 1) rows
    # float32 on values ~1000: x itself carries eps32 x 1000 = 1.2e-4 absolute and the centred
    # sums over 16 rows lose ~log2(16) more -> ~5e-4 x |y| <= 3; 1e-3 / 2e-3 is that with 4x headroom.
    np.testing.assert_allclose(np.array(result["y"]), ref_y, rtol=1e-3, atol=2e-3)
    np.testing.assert_allclose(np.array(result["d_x"]), ref_d_x, rtol=1e-3, atol=2e-3)
    # Each replica's gamma gradient is its share; summed over replicas it is the global one.
    np.testing.assert_allclose(np.sum(result["d_gamma"], axis=0), ref_d_gamma, rtol=1e-3, atol=2e-3)
    for moving_mean, moving_variance in zip(result["moving_mean"], result["moving_variance"]):
        np.testing.assert_allclose(moving_mean, 0.1 * mean, rtol=1e-6)  # mean ~1000: a few eps32 relative
        # variance ~1 from values ~1000: cancellation leaves eps32 x 1000^2 / 1 relative ~1e-4 -> 1e-3
        np.testing.assert_allclose(moving_variance, 0.9 + 0.1 * variance, rtol=1e-3)
