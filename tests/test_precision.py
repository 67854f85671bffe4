"""Mixed precision: bfloat16 and float16 training steps with float32 losses."""
import keras
import numpy as np
import pytest
import tensorflow as tf

import objective_harness as harness
from sslzoo import precision


@pytest.fixture(autouse=True)
def _restore_policy():
    previous = precision.current_precision()
    yield
    keras.config.set_dtype_policy(previous)


def _simclr_first_loss(views, initial, name, epochs=1):
    with precision.using_precision(name):
        model = harness.make_objective("simclr")
        model.set_weights(initial)
        loss, _ = model.compute_objective(tuple(tf.constant(v) for v in views), training=True)
        model.compile(optimizer=precision.loss_scaled(keras.optimizers.SGD(0.05, momentum=0.9)))
        history = model.fit(harness.dataset(views, 16), epochs=epochs, verbose=0)
    return model, loss, history.history["loss"][0]


def test_mixed_bfloat16_simclr_step_matches_float32(digits):
    views = harness.fixed_views(digits[0][:16])
    initial = harness.make_objective("simclr").get_weights()
    _, _, loss_32 = _simclr_first_loss(views, initial, "float32")
    model, traced_loss, loss_16 = _simclr_first_loss(views, initial, "mixed_bfloat16")

    assert model.encoder.layers[-1].compute_dtype == "bfloat16"
    assert model.trainable_variables[0].dtype == "float32"
    assert traced_loss.dtype == tf.float32
    assert np.isfinite(loss_16)
    # the loss is float32 from bfloat16 activations (8 mantissa bits: 2^-8 = 3.9e-3 per rounding);
    # ~3 roundings on a loss of ~1-4 -> ~1e-2: a bfloat16 bound; a dtype or NaN regression fails it.
    assert abs(loss_16 - loss_32) <= 1e-2, (loss_16, loss_32)
    assert precision.current_precision() == "float32"


def test_mixed_float16_uses_loss_scaling(digits):
    views = harness.fixed_views(digits[0][:16])
    initial = harness.make_objective("simclr").get_weights()
    model, traced_loss, loss = _simclr_first_loss(views, initial, "mixed_float16", epochs=4)
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert model.encoder.layers[-1].compute_dtype == "float16"
    assert traced_loss.dtype == tf.float32
    assert np.isfinite(loss)
    # Dynamic scaling: steps whose scaled gradients overflow are skipped and the
    # scale halved (from 2**15); the others reach the inner optimizer.
    scale = float(model.optimizer.dynamic_scale)
    applied = int(model.optimizer.inner_optimizer.iterations)
    assert scale < 2.0 ** 15 and np.log2(scale) == round(np.log2(scale)), scale
    assert 1 <= applied <= 4, applied
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(model.get_weights(), initial) if a.size)
    assert moved > 1e-4


def test_loss_scaled_only_wraps_float16():
    sgd = keras.optimizers.SGD(0.1)
    assert precision.loss_scaled(sgd, "float32") is sgd
    assert precision.loss_scaled(sgd, "mixed_bfloat16") is sgd
    wrapped = precision.loss_scaled(sgd, "mixed_float16")
    assert isinstance(wrapped, keras.optimizers.LossScaleOptimizer)
    assert precision.loss_scaled(wrapped, "mixed_float16") is wrapped


def test_set_precision_returns_previous_and_rejects_unknown():
    assert precision.set_precision("mixed_bfloat16") == "float32"
    assert keras.config.dtype_policy().compute_dtype == "bfloat16"
    assert precision.set_precision("float32") == "mixed_bfloat16"
    with pytest.raises(ValueError, match="`precision` must be one of .*'float64'"):
        precision.set_precision("float64")
    with pytest.raises(ValueError, match="`optimizer` must be a keras.optimizers.Optimizer, got str"):
        precision.loss_scaled("sgd", "mixed_float16")
