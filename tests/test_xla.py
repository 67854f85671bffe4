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

# XLA compiles its own kernels (no oneDNN), so a compiled step differs from the
# plain one by more than reordered sums: with oneDNN on, SwAV's jit-vs-plain gap
# was 26x the reordering floor. So the check is split like the replica one:
# - float64: jit and plain agree to FLOAT64_TOLERANCE (the compiled step computes
#   the same algorithm);
# - float32: the gap is at most FLOOR_FACTOR x the plain step's own float32 error
#   (its distance from the float64 step, from the same weights) or the reordering
#   floor, whichever is larger: two float32 implementations of one step may each
#   sit that far from the exact answer.


# Every objective is checked, two in the default run: the in-batch contrastive gather (SimCLR)
# and two encoders (CLIP); the others, Sinkhorn with a queue (SwAV, about 40 s on 2 cores)
# among them, in the nightly run (`pytest -m slow`).
FAST = ("simclr", "clip")


@pytest.mark.parametrize("name", [n if n in FAST else pytest.param(n, marks=pytest.mark.slow)
                                  for n in harness.OBJECTIVES])
def test_jit_step_matches_plain_step(name, digits):
    images, _ = digits
    view_1, view_2 = harness.fixed_views(images[:harness.SPLIT_BATCH * harness.SPLIT_STEPS])
    data = harness.batch_layout(name, view_1, view_2)
    plain, initial = harness.fit_steps(name, data)
    jitted, _ = harness.fit_steps(name, data, initial, jit_compile=True)
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(plain.get_weights(), initial) if a.size)
    assert moved > 1e-4, f"{name}: the steps did not change the weights"

    harness.set_float_dtype("float64")
    try:
        data_64 = harness.as_dtype(data, "float64")
        exact, _ = harness.fit_steps(name, data_64, initial)
        exact_jit, _ = harness.fit_steps(name, data_64, initial, jit_compile=True)
    finally:
        harness.set_float_dtype("float32")
    diff_64, worst_64 = harness.weight_difference(exact, exact_jit)
    assert diff_64 <= harness.FLOAT64_TOLERANCE, f"{name}: float64 jit vs plain {diff_64:.3g} at {worst_64}"

    float32_error, _ = harness.weight_difference(plain, exact)
    floor = max(float32_error, harness.rounding_floor(name, data, initial, plain))
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
