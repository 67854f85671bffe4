"""XLA: every image objective's train step compiles with `jit_compile=True`.

This is the single-device proxy for the TPU path (static shapes, no string ops,
no host callbacks): a jit-compiled `fit` must leave the same weights as the
plain one from the same initial weights and batches.
"""
import keras
import numpy as np
import pytest
import tensorflow as tf

import objective_harness as harness

# One step (it still writes every piece of state: optimizer slots, momentum
# encoder, queue, prototypes) at a tenth of the split-equivalence rates: XLA
# fuses and reorders float32 sums, and tiny batch-norm batches and SwAV's
# exp(scores / 0.05) amplify that rounding (2 steps at the full rate: SimCLR 1e-5,
# MoCo v2 4e-5, SwAV 2e-4 apart with oneDNN off).
STEPS = 1
LEARNING_RATE_FACTOR = 0.1


def _fit(name, data, initial, jit_compile):
    model = harness.make_objective(name)
    model.set_weights(initial)
    learning_rate = harness.SPLIT_LEARNING_RATE.get(name, 0.1) * LEARNING_RATE_FACTOR
    model.compile(optimizer=keras.optimizers.SGD(learning_rate, momentum=0.9), jit_compile=jit_compile)
    model.fit(harness.dataset(data, 16), epochs=1, steps_per_epoch=STEPS, verbose=0, shuffle=False)
    return model


@pytest.mark.parametrize("name", harness.OBJECTIVES)
def test_jit_step_matches_plain_step(name, digits):
    images, _ = digits
    view_1, view_2 = harness.fixed_views(images[:32])
    data = harness.batch_layout(name, view_1, view_2)
    initial = harness.make_objective(name).get_weights()

    plain = _fit(name, data, initial, jit_compile=False)
    jitted = _fit(name, data, initial, jit_compile=True)

    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(plain.get_weights(), initial) if a.size)
    assert moved > 1e-4, f"{name}: the steps did not change the weights"
    for plain_weight, jit_weight in zip(plain.weights, jitted.weights):
        np.testing.assert_allclose(np.asarray(jit_weight), np.asarray(plain_weight), rtol=0, atol=1e-5,
                                   err_msg=f"{name}: {plain_weight.path}")


def test_jit_step_still_stops_on_nan(digits):
    images, _ = digits
    view_1, view_2 = harness.fixed_views(images[:16])
    view_1[0, 0, 0, 0] = np.nan
    model = harness.make_objective("simclr")
    model.compile(optimizer=keras.optimizers.SGD(0.1), jit_compile=True)
    with pytest.raises(tf.errors.InvalidArgumentError, match="NaN or infinite"):
        model.fit(harness.dataset((view_1, view_2), 16), epochs=1, verbose=0, shuffle=False)
    # Under XLA the check runs after the step; its NaN gradient was zeroed (the
    # forward pass's batch-norm moving statistics take the NaN in either mode).
    assert all(np.all(np.isfinite(np.asarray(w))) for w in model.trainable_weights)
