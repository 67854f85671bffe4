"""Tests for sslzoo.optimizers: LARS against a numpy LARS, schedules, LR scaling, errors."""
import math
import os

import numpy as np
import pytest

import keras
import tensorflow as tf
from sslzoo import optimizers
from sslzoo.optimizers import LARS, WarmupCosine, scaled_learning_rate
from testing_utils import run_python

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))  # child imports testing_utils


def numpy_lars_step(w, g, v, lr, momentum, weight_decay, eta, excluded, nesterov=False):
    """SimCLR's LARS written out: returns the new (w, v)."""
    if excluded:
        d, trust = g, 1.0
    else:
        d = g + weight_decay * w
        w_norm, d_norm = np.linalg.norm(w), np.linalg.norm(d)
        trust = eta * w_norm / d_norm if (w_norm > 0 and d_norm > 0) else 1.0
    v = momentum * v + lr * trust * d
    step = momentum * v + lr * trust * d if nesterov else v
    return w - step, v


def _dense_and_bn(seed=0):
    """A Dense(3) kernel (adapted), its bias and BN gamma/beta (excluded by name and rank)."""
    dense = keras.layers.Dense(3, bias_initializer=keras.initializers.Constant(0.5))
    bn = keras.layers.BatchNormalization()
    dense.build((None, 4))
    bn.build((None, 3))
    variables = [dense.kernel, dense.bias, bn.gamma, bn.beta]
    return variables, [False, True, True, True]


def _gradients(variables, seed):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=v.shape).astype(np.float32) for v in variables]


def _run_and_compare(optimizer, variables, excluded, learning_rates, nesterov=False):
    hyper = dict(momentum=0.9, weight_decay=0.1, eta=0.01, nesterov=nesterov)
    ws = [v.numpy().astype(np.float64) for v in variables]
    vs = [np.zeros_like(w) for w in ws]
    for step, learning_rate in enumerate(learning_rates):
        grads = _gradients(variables, seed=step)
        optimizer.apply(grads, variables)
        for i in range(len(ws)):
            ws[i], vs[i] = numpy_lars_step(ws[i], grads[i], vs[i], learning_rate,
                                           excluded=excluded[i], **hyper)
        for variable, expected in zip(variables, ws):
            # float32 update vs float64 numpy over <= 3 steps: trust ratio = norm ratio (D-term norms,
            # ~eps32 x D relative), so ~10 eps32 relative per step -> rtol 1e-5; atol for weights ~0.
            np.testing.assert_allclose(variable.numpy(), expected, rtol=1e-5, atol=1e-6)
    return ws


@pytest.mark.parametrize("nesterov", [False, True])
def test_lars_one_and_two_steps_match_numpy(nesterov):
    variables, excluded = _dense_and_bn()
    optimizer = LARS(0.5, momentum=0.9, weight_decay=0.1, eta=0.01, nesterov=nesterov)
    _run_and_compare(optimizer, variables, excluded, [0.5, 0.5], nesterov=nesterov)
    assert [optimizer.is_excluded(v) for v in variables] == excluded


def test_lars_follows_a_schedule():
    schedule = WarmupCosine(1.0, total_steps=10, warmup_steps=4)
    variables, excluded = _dense_and_bn()
    optimizer = LARS(schedule, momentum=0.9, weight_decay=0.1, eta=0.01)
    _run_and_compare(optimizer, variables, excluded, [0.0, 0.25])


def test_lars_trust_ratio_is_one_for_zero_weights():
    variable = keras.Variable(np.zeros((2, 2), np.float32), name="kernel")
    optimizer = LARS(0.1, momentum=0.0, weight_decay=0.5, eta=0.001)
    optimizer.apply([np.full((2, 2), 2.0, np.float32)], [variable])
    np.testing.assert_allclose(variable.numpy(), -0.2)


def test_exclusion_patterns_and_callable():
    variables, _ = _dense_and_bn()
    by_pattern = LARS(0.5, weight_decay=0.1, eta=0.01, exclude_from_adaptation=("kernel",))
    _run_and_compare(by_pattern, variables, [True, True, True, True], [0.5, 0.5])
    variables, _ = _dense_and_bn()
    adapt_all = LARS(0.5, weight_decay=0.1, eta=0.01, exclude_from_adaptation=lambda v: False)
    _run_and_compare(adapt_all, variables, [False, False, False, False], [0.5, 0.5])


def test_lars_jit_compiled_equals_eager():
    eager_vars, _ = _dense_and_bn()
    jit_vars, _ = _dense_and_bn()
    for v_eager, v_jit in zip(eager_vars, jit_vars):
        v_jit.assign(v_eager.numpy())
    eager, jitted = LARS(0.5, weight_decay=0.1, eta=0.01), LARS(0.5, weight_decay=0.1, eta=0.01)
    jitted.build(jit_vars)
    grads = _gradients(eager_vars, seed=3)

    @tf.function(jit_compile=True)
    def jit_apply(grads):
        jitted.apply(grads, jit_vars)

    for _ in range(2):
        eager.apply(grads, eager_vars)
        jit_apply([tf.constant(g) for g in grads])
    for v_eager, v_jit in zip(eager_vars, jit_vars):
        # XLA fuses/reorders the float32 norms: a few eps32 x D relative per step, 2 steps -> rtol 1e-5.
        np.testing.assert_allclose(v_jit.numpy(), v_eager.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.subprocess
def test_lars_under_mirrored_strategy_sums_replica_gradients(tmp_path):
    result = run_python(
        """
        import numpy as np
        import tensorflow as tf
        import keras
        from sslzoo.optimizers import LARS
        from testing_utils import write_result

        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        with strategy.scope():
            dense = keras.layers.Dense(2, kernel_initializer=keras.initializers.Constant(0.3),
                                       bias_initializer=keras.initializers.Constant(0.1))
            dense.build((None, 2))
            optimizer = LARS(0.5, momentum=0.9, weight_decay=0.1, eta=0.01)
            optimizer.build(dense.trainable_variables)

        @tf.function
        def step():
            def replica_fn():
                r = tf.cast(tf.distribute.get_replica_context().replica_id_in_sync_group, tf.float32)
                grads = [tf.fill((2, 2), 1.0 + r), tf.fill((2,), 2.0 * (1.0 + r))]
                optimizer.apply(grads, dense.trainable_variables)
            strategy.run(replica_fn)

        step()
        step()
        write_result({
            "kernel": [c.numpy().tolist() for c in dense.kernel.value.values],
            "bias": [c.numpy().tolist() for c in dense.bias.value.values],
        })
        """,
        tmp_path=tmp_path,
        env={"PYTHONPATH": os.pathsep.join(filter(None, [TESTS_DIR, os.environ.get("PYTHONPATH")]))},
    )
    hyper = dict(lr=0.5, momentum=0.9, weight_decay=0.1, eta=0.01)
    w, vw = np.full((2, 2), 0.3), np.zeros((2, 2))
    b, vb = np.full((2,), 0.1), np.zeros((2,))
    for _ in range(2):  # gradients summed over the two replicas: 1 + 2 and 2 + 4
        w, vw = numpy_lars_step(w, np.full((2, 2), 3.0), vw, excluded=False, **hyper)
        b, vb = numpy_lars_step(b, np.full((2,), 6.0), vb, excluded=True, **hyper)
    for copy in result["kernel"]:
        # float32 vs float64 numpy, 2 steps of small exact-integer gradients: ~10 eps32 -> rtol 1e-5.
        np.testing.assert_allclose(copy, w, rtol=1e-5)
    for copy in result["bias"]:
        np.testing.assert_allclose(copy, b, rtol=1e-5)


def test_compiled_model_with_lars_and_schedule_round_trips(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    schedule = WarmupCosine(0.4, total_steps=50, warmup_steps=5, end_learning_rate=0.01)
    model.compile(optimizer=LARS(schedule, weight_decay=1e-4, exclude_from_adaptation=["bias"]), loss="mse")
    x = np.random.default_rng(0).normal(size=(8, 3)).astype(np.float32)
    model.fit(x, x[:, :2], batch_size=4, epochs=1, verbose=0)
    path = str(tmp_path / "model.keras")
    model.save(path)
    restored = keras.saving.load_model(path).optimizer
    assert int(restored.iterations.numpy()) == 2
    for saved, loaded in zip(model.optimizer.velocities, restored.velocities):
        np.testing.assert_array_equal(loaded.numpy(), saved.numpy())
    assert isinstance(restored, LARS) and isinstance(restored._learning_rate, WarmupCosine)
    assert restored._learning_rate.get_config() == schedule.get_config()
    assert restored.lars_weight_decay == 1e-4 and restored.exclude_from_adaptation == ["bias"]
    assert restored.weight_decay is None  # the base class' decoupled decay stays off


def numpy_warmup_cosine(step, peak, total, warmup, end):
    if step < warmup:
        return peak * step / warmup
    progress = min(1.0, (step - warmup) / (total - warmup))
    return end + (peak - end) * 0.5 * (1.0 + math.cos(math.pi * progress))


@pytest.mark.parametrize("step", [0, 5, 10, 40, 77, 100, 150])
def test_warmup_cosine_matches_formula(step):
    schedule = WarmupCosine(2.0, total_steps=100, warmup_steps=10, end_learning_rate=0.2)
    expected = numpy_warmup_cosine(step, 2.0, 100, 10, 0.2)
    # a float32 cosine of a float32 fraction: ~5 eps32 relative -> rtol 1e-6; atol for values ~0.
    np.testing.assert_allclose(float(schedule(step)), expected, rtol=1e-6, atol=1e-7)


def test_warmup_cosine_landmarks_and_config():
    schedule = WarmupCosine(2.0, total_steps=100, warmup_steps=10, end_learning_rate=0.2)
    assert float(schedule(0)) == 0.0
    # default rtol 1e-7: linear warmup values 1.0, 2.0 and lr 0.25 below are exact in float32 (powers of 2
    # times small integers), so only a wrong formula differs
    np.testing.assert_allclose(float(schedule(5)), 1.0)  # mid-warmup: half the peak
    np.testing.assert_allclose(float(schedule(10)), 2.0)  # end of warmup: the peak
    # float32 rounding of 0.2 and the cosine: a few eps32 -> rtol 1e-6.
    np.testing.assert_allclose(float(schedule(100)), 0.2, rtol=1e-6)  # end
    assert WarmupCosine.from_config(schedule.get_config()).get_config() == schedule.get_config()
    no_warmup = WarmupCosine(1.0, total_steps=4, warmup_steps=0)
    np.testing.assert_allclose([float(no_warmup(s)) for s in range(5)],
                               # values <= 1 in float32 (one cosine, one multiply): ~1 eps32 = 1.2e-7 -> atol 1e-7 is at that floor;
    # a CPU whose cos rounds differently would need 2e-7 (derived: 2 roundings x eps32).
                               [numpy_warmup_cosine(s, 1.0, 4, 0, 0.0) for s in range(5)], atol=1e-7)


def test_warmup_cosine_end_fraction_of_the_peak():
    # Barlow Twins main.py: end_lr = base_lr * 0.001 (times the per-group rate).
    schedule = WarmupCosine(0.4, total_steps=100, warmup_steps=10, end_fraction=1e-3)
    # Python float64 product 0.4 x 1e-3 against the literal 4e-4: equal to 1 ulp -> rtol 1e-15.
    assert schedule.end_learning_rate == pytest.approx(4e-4, rel=1e-15)
    # float32 schedule values: a few eps32 -> rtol 1e-6 (as the formula test above).
    np.testing.assert_allclose(float(schedule(100)), 4e-4, rtol=1e-6)
    np.testing.assert_allclose(float(schedule(55)), numpy_warmup_cosine(55, 0.4, 100, 10, 4e-4), rtol=1e-6)
    restored = WarmupCosine.from_config(schedule.get_config())
    assert restored.end_learning_rate == schedule.end_learning_rate


def test_slot_variables_are_the_optimizer_state_of_one_variable():
    a = keras.Variable(np.ones((2, 3), np.float32), name="a")
    b = keras.Variable(np.ones((3,), np.float32), name="b")
    adam = keras.optimizers.AdamW(0.1)
    adam.build([a, b])
    slots = optimizers.slot_variables(adam, a, [a, b])
    assert len(slots) == 2 and all(tuple(s.shape) == (2, 3) for s in slots)  # first and second moments
    plain = keras.optimizers.SGD(0.1)
    plain.build([a, b])
    assert optimizers.slot_variables(plain, a, [a, b]) == []  # SGD without momentum keeps no state
    sgd = keras.optimizers.SGD(0.1, momentum=0.9)
    sgd.build([a, b])
    assert [tuple(s.shape) for s in optimizers.slot_variables(sgd, b, [a, b])] == [(3,)]
    clash = keras.Variable(np.ones((1,), np.float32), name="a_x")  # its slots would start with "a_"
    with pytest.raises(ValueError, match="Cannot tell the optimizer slots"):
        optimizers.slot_variables(sgd, a, [a, clash])


def test_scaled_learning_rate_simclr_published_values():
    # SimCLR (Chen et al. 2020): LARS lr 4.8 = 0.3 x BatchSize / 256 at batch 4096,
    # and 0.075 x sqrt(BatchSize) in its square-root variant.
    # Python float64 arithmetic on exact formulas: pytest.approx's default rel 1e-6 only absorbs the
    # float64 rounding of 0.3 x 16 (and sqrt), ~1e-16
    assert scaled_learning_rate(0.3, 4096, "linear") == pytest.approx(4.8)
    assert scaled_learning_rate(0.075, 4096, "sqrt") == pytest.approx(4.8)
    assert scaled_learning_rate(0.3, 512) == pytest.approx(0.3 * 512 / 256)
    assert scaled_learning_rate(0.075, 512, "sqrt") == pytest.approx(0.075 * math.sqrt(512))


@pytest.mark.parametrize("name, cls", [("sgd", keras.optimizers.SGD), ("adam", keras.optimizers.Adam),
                                       ("adamw", keras.optimizers.AdamW), ("lars", LARS)])
def test_get_builds_each_optimizer(name, cls):
    optimizer = optimizers.get(name, 0.25)
    assert type(optimizer) is cls
    np.testing.assert_allclose(float(optimizer.learning_rate), 0.25)
    assert optimizers.get("sgd", 0.1, momentum=0.8).momentum == 0.8


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: optimizers.get("rmsprop", 0.1), r"rmsprop.*adam.*adamw.*lars.*sgd"),
        (lambda: LARS(0.1, momentum=1.5), r"momentum.*1.5"),
        (lambda: LARS(0.1, weight_decay=-1.0), r"weight_decay.*-1.0"),
        (lambda: LARS(0.1, eta=0.0), r"eta.*0.0"),
        (lambda: LARS(0.1, exclude_from_adaptation=[3]), r"exclude_from_adaptation.*\[3\]"),
        (lambda: WarmupCosine(1.0, total_steps=10, warmup_steps=11), r"warmup_steps.*11"),
        (lambda: WarmupCosine(1.0, total_steps=0, warmup_steps=0), r"total_steps.*0"),
        (lambda: WarmupCosine(-1.0, total_steps=10, warmup_steps=1), r"peak_learning_rate.*-1.0"),
        (lambda: WarmupCosine(1.0, total_steps=10, warmup_steps=1, end_fraction=2.0), r"end_fraction.*2.0"),
        (lambda: WarmupCosine(1.0, 10, 1, end_learning_rate=0.1, end_fraction=0.1), r"not both"),
        (lambda: scaled_learning_rate(0.1, 256, "log"), r"scaling.*linear.*sqrt.*log"),
        (lambda: scaled_learning_rate(0.1, 0), r"batch_size.*0"),
    ],
)
def test_bad_arguments_raise(build, message):
    with pytest.raises(ValueError, match=message):
        build()
