"""BYOL / SimSiam / VICReg / DINO losses against independent numpy formulas (float64, ~1e-12)."""
import os

import numpy as np
import pytest
import tensorflow as tf

from sslzoo import losses
from testing_utils import run_python

RTOL = 1e-12


def _unit(x):
    return x / np.sqrt((x * x).sum(-1, keepdims=True))


def np_byol(p, z):
    diff = _unit(p) - _unit(z)
    return np.mean((diff ** 2).sum(-1))


def np_simsiam(p, z):
    return -np.mean((_unit(p) * _unit(z)).sum(-1))


def np_vicreg(x, y, wi=25.0, wv=25.0, wc=1.0, eps=1e-4):
    n, d = x.shape
    inv = np.mean((x - y) ** 2)

    def var_cov(a):
        a = a - a.mean(0)
        cov = a.T @ a / (n - 1)
        std = np.sqrt(np.var(a, axis=0, ddof=1) + eps)
        v = np.mean(np.maximum(0.0, 1.0 - std))
        off = cov - np.diag(np.diag(cov))
        return v, (off ** 2).sum() / d

    vx, cx = var_cov(x)
    vy, cy = var_cov(y)
    return wi * inv + wv * (vx + vy) / 2 + wc * (cx + cy)


def _log_softmax(a):
    a = a - a.max(-1, keepdims=True)
    return a - np.log(np.exp(a).sum(-1, keepdims=True))


def np_dino(students, teachers, center, ts, tt):
    total, count = 0.0, 0
    for i, t in enumerate(teachers):
        q = np.exp(_log_softmax((t - center) / tt))
        for j, s in enumerate(students):
            if i != j:
                total += np.mean(-(q * _log_softmax(s / ts)).sum(-1))
                count += 1
    return total / count


def _rand(*shape, seed=0, scale=1.0):
    return np.random.default_rng(seed).normal(size=shape) * scale


def test_byol_float64():
    p, z = _rand(8, 5, seed=1), _rand(8, 5, seed=2)
    got = losses.byol_loss(p, z)
    assert got.dtype == tf.float64
    np.testing.assert_allclose(got.numpy(), np_byol(p, z), rtol=RTOL)


def test_byol_identical_is_zero_and_opposite_is_four():
    p = _rand(4, 3, seed=3)
    np.testing.assert_allclose(losses.byol_loss(p, 2 * p).numpy(), 0.0, atol=1e-12)
    np.testing.assert_allclose(losses.byol_loss(p, -p).numpy(), 4.0, rtol=1e-12)


def test_simsiam_float64():
    p, z = _rand(8, 5, seed=4), _rand(8, 5, seed=5)
    got = losses.simsiam_loss(p, z)
    assert got.dtype == tf.float64
    np.testing.assert_allclose(got.numpy(), np_simsiam(p, z), rtol=RTOL)


@pytest.mark.parametrize("scale", [0.1, 3.0])  # hinge active / inactive
def test_vicreg_float64(scale):
    x, y = _rand(16, 6, seed=6, scale=scale), _rand(16, 6, seed=7, scale=scale)
    got = losses.vicreg(x, y)
    assert got.dtype == tf.float64
    np.testing.assert_allclose(got.numpy(), np_vicreg(x, y), rtol=RTOL)
    got = losses.vicreg(x, y, invariance=1.0, variance=2.0, covariance=0.5, epsilon=1e-3)
    np.testing.assert_allclose(got.numpy(), np_vicreg(x, y, 1.0, 2.0, 0.5, 1e-3), rtol=RTOL)


def test_vicreg_terms_match_weights():
    x, y = _rand(10, 4, seed=8, scale=0.5), _rand(10, 4, seed=9, scale=0.5)
    i, v, c = (t.numpy() for t in losses.vicreg_terms(x, y))
    np.testing.assert_allclose(i, np_vicreg(x, y, 1, 0, 0), rtol=RTOL)
    np.testing.assert_allclose(v, np_vicreg(x, y, 0, 1, 0), rtol=RTOL)
    np.testing.assert_allclose(c, np_vicreg(x, y, 0, 0, 1), rtol=RTOL)


def test_dino_float64():
    students = [_rand(6, 10, seed=s) for s in range(10, 14)]
    teachers = [_rand(6, 10, seed=s) for s in (20, 21)]
    center = _rand(1, 10, seed=22, scale=0.1)
    got = losses.dino_loss(students, teachers, center, student_temp=0.1, teacher_temp=0.07)
    assert got.dtype == tf.float64
    np.testing.assert_allclose(got.numpy(), np_dino(students, teachers, center, 0.1, 0.07), rtol=RTOL)


def test_dino_center_float64():
    teachers = [_rand(6, 10, seed=s) for s in (30, 31)]
    center = _rand(1, 10, seed=32)
    got = losses.dino_center(teachers, center, momentum=0.9).numpy()
    want = 0.9 * center + 0.1 * np.concatenate(teachers).mean(0, keepdims=True)
    np.testing.assert_allclose(got, want, rtol=RTOL)


def test_dino_no_gradient_to_teacher():
    s = [tf.Variable(_rand(4, 5, seed=s)) for s in (40, 41)]
    t = [tf.Variable(_rand(4, 5, seed=s)) for s in (42, 43)]
    with tf.GradientTape() as tape:
        loss = losses.dino_loss(s, t, np.zeros((5,)))
    grads = tape.gradient(loss, s + t)
    assert all(g is not None for g in grads[:2]) and all(g is None for g in grads[2:])


def test_errors_name_argument():
    with pytest.raises(ValueError, match="invariance"):
        losses.vicreg(np.ones((4, 3)), np.ones((4, 3)), invariance=-1.0)
    with pytest.raises(ValueError, match="epsilon"):
        losses.vicreg(np.ones((4, 3)), np.ones((4, 3)), epsilon=0.0)
    with pytest.raises(ValueError, match="z1"):
        losses.vicreg(np.ones((4, 3, 2)), np.ones((4, 3, 2)))
    with pytest.raises(ValueError, match="teacher_temp"):
        losses.dino_loss([np.ones((2, 3))] * 3, [np.ones((2, 3))], np.zeros(3), teacher_temp=0.0)
    with pytest.raises(ValueError, match="student_logits"):
        losses.dino_loss([], [np.ones((2, 3))], np.zeros(3))
    with pytest.raises(ValueError, match="momentum"):
        losses.dino_center([np.ones((2, 3))], np.zeros(3), momentum=1.5)


CHILD = """
import json, sys
import numpy as np
sys.path.insert(0, {tests_dir!r})
from sslzoo import losses
from testing_utils import write_result
rng = np.random.default_rng(0)
x, y = rng.normal(size=(8, 5)) * 0.3, rng.normal(size=(8, 5)) * 0.3
students = [rng.normal(size=(8, 7)) for _ in range(3)]
teachers = students[:2]
center = rng.normal(size=(1, 7)) * 0.1
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])

def halves(a, ctx):
    r = ctx.replica_id_in_sync_group
    return tf.constant(a)[r * 4:(r + 1) * 4]

def vic_step():
    ctx = tf.distribute.get_replica_context()
    return losses.vicreg(halves(x, ctx), halves(y, ctx))

def vic_grad():
    ctx = tf.distribute.get_replica_context()
    xs, ys = halves(x, ctx), halves(y, ctx)
    with tf.GradientTape() as tape:
        tape.watch(xs)
        loss = losses.vicreg(xs, ys)
    return tape.gradient(loss, xs)

def dino_step():
    ctx = tf.distribute.get_replica_context()
    s = [halves(a, ctx) for a in students]
    return losses.dino_loss(s, s[:2], center, 0.1, 0.05), losses.dino_center(s[:2], center, 0.9)

vic = strategy.run(tf.function(vic_step))
vic_vals = [v.numpy() for v in strategy.experimental_local_results(vic)]
grads = np.concatenate([g.numpy() for g in strategy.experimental_local_results(strategy.run(tf.function(vic_grad)))])
d_loss, d_center = strategy.run(tf.function(dino_step))
xs = tf.constant(x)
with tf.GradientTape() as tape:
    tape.watch(xs)
    single = losses.vicreg(xs, tf.constant(y))
single_grad = tape.gradient(single, xs).numpy()
write_result(dict(
    vicreg_split=float(np.mean(vic_vals)), vicreg_single=float(single.numpy()),
    vicreg_grad_error=float(np.abs(grads / 2 - single_grad).max()), vicreg_grad_scale=float(np.abs(single_grad).max()),
    dino_split=float(np.mean([v.numpy() for v in strategy.experimental_local_results(d_loss)])),
    dino_single=float(losses.dino_loss(students, teachers, center, 0.1, 0.05).numpy()),
    centers=[c.numpy().tolist() for c in strategy.experimental_local_results(d_center)],
    center_single=losses.dino_center(teachers, center, 0.9).numpy().tolist(),
))
"""


@pytest.mark.subprocess
def test_two_replicas_float64(tmp_path):
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    r = run_python(CHILD.format(tests_dir=tests_dir), devices=2, tmp_path=tmp_path)
    assert abs(r["vicreg_split"] - r["vicreg_single"]) <= 1e-12 * max(1.0, abs(r["vicreg_single"])), r
    # The train step differentiates loss_r / N; the all-reduced terms' gradient is summed over
    # replicas, so each replica's d(loss_r / N)/dx_r must equal the single-device gradient rows.
    assert r["vicreg_grad_scale"] > 1e-3
    assert r["vicreg_grad_error"] <= 1e-12 * r["vicreg_grad_scale"], r
    assert abs(r["dino_split"] - r["dino_single"]) <= 1e-12 * abs(r["dino_single"]), r
    for c in r["centers"]:
        np.testing.assert_allclose(c, r["center_single"], rtol=1e-12)
