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

# XLA fuses and reorders float32 sums, so a compiled step differs from the plain
# one by rounding. The bound is derived in the test, as for split equivalence:
# FLOOR_FACTOR x the difference the plain step shows when each batch's rows come
# in another order (objective_harness.float32_tolerance).


@pytest.mark.parametrize("name", harness.OBJECTIVES)
def test_jit_step_matches_plain_step(name, digits):
    images, _ = digits
    view_1, view_2 = harness.fixed_views(images[:harness.SPLIT_BATCH * harness.SPLIT_STEPS])
    data = harness.batch_layout(name, view_1, view_2)
    plain, initial = harness.fit_steps(name, data)
    jitted, _ = harness.fit_steps(name, data, initial, jit_compile=True)

    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(plain.get_weights(), initial) if a.size)
    assert moved > 1e-4, f"{name}: the steps did not change the weights"
    floor = harness.rounding_floor(name, data, initial, plain)
    tolerance = harness.float32_tolerance(floor, plain)
    diff, worst = harness.weight_difference(plain, jitted)
    assert diff <= tolerance, f"{name}: jit vs plain {diff:.3g} at {worst} > {tolerance:.3g} (floor {floor:.3g})"


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
