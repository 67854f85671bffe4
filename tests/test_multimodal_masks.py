"""Masked NCE / MIL-NCE: clips without audio or text leave their term without biasing the mean.

The decision tested here (documented in `sslzoo.losses.multimodal`): a masked clip
is removed from its term exactly as if it were deleted from the global batch (no
anchor, none of its embeddings a negative), and the mean runs over the real clips
of the global batch. The numpy references below therefore delete the masked
clips first and apply the plain formulas, written out independently.
"""
import os

import numpy as np
import pytest
import tensorflow as tf

from sslzoo import losses
from reference_losses import np_logsumexp as _lse
from reference_losses import np_normalize as _unit
from testing_utils import run_python


def np_nce_on_kept(x, y, t, mask):
    """Symmetric NCE over the clips with mask 1 only (deleted from the batch otherwise)."""
    keep = np.asarray(mask) > 0.5
    if not keep.any():
        return 0.0
    x, y = _unit(x[keep]), _unit(y[keep])
    s = x @ y.T / t
    n = len(x)
    x_to_y = [_lse(s[i]) - s[i, i] for i in range(n)]
    y_to_x = [_lse(s[:, i]) - s[i, i] for i in range(n)]
    return (np.mean(x_to_y) + np.mean(y_to_x)) / 2


def np_mil_nce_on_kept(video, text, text_mask, t, clip_mask=None):
    """MIL-NCE over the clips that have a real candidate (and clip_mask 1)."""
    text_mask = np.asarray(text_mask) > 0.5
    keep = text_mask.any(axis=1)
    if clip_mask is not None:
        keep &= np.asarray(clip_mask) > 0.5
    if not keep.any():
        return 0.0
    v, tx, m = _unit(video[keep]), _unit(text[keep]), text_mask[keep]
    b, k = m.shape
    total = 0.0
    for i in range(b):
        row = [v[i] @ tx[j, c] / t for j in range(b) for c in range(k) if m[j, c]]
        column = [v[j] @ tx[i, c] / t for j in range(b) for c in range(k) if m[i, c]]
        positives = [v[i] @ tx[i, c] / t for c in range(k) if m[i, c]]
        total += _lse(row + column) - _lse(positives)
    return total / b


def _data(seed, b=7, k=3, d=5):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(b, d)), rng.normal(size=(b, d)), rng.normal(size=(b, k, d))


def test_masked_nce_equals_nce_of_the_kept_clips():
    x, y, _ = _data(0)
    mask = np.array([1, 0, 1, 1, 0, 1, 1], np.float32)
    got = losses.nce(tf.constant(x), tf.constant(y), 0.1, mask=mask)
    assert got.dtype == tf.float64
    assert abs(float(got) - np_nce_on_kept(x, y, 0.1, mask)) <= 1e-12


def test_nce_all_ones_mask_equals_unmasked():
    x, y, _ = _data(1)
    masked = losses.nce(tf.constant(x), tf.constant(y), 0.2, mask=np.ones(7, bool))
    plain = losses.nce(tf.constant(x), tf.constant(y), 0.2)
    assert abs(float(masked) - float(plain)) <= 1e-12
    assert abs(float(plain) - np_nce_on_kept(x, y, 0.2, np.ones(7))) <= 1e-12


def test_masked_clips_do_not_reach_loss_or_gradient():
    x, y, text = _data(2)
    mask = np.array([1, 1, 0, 1, 1, 0, 1], np.float32)
    text_mask = np.ones(text.shape[:2], np.float32)
    text_mask[2] = 0.0  # clip 2 has no text
    garbage = np.random.default_rng(9).normal(size=y.shape) * 50
    y2 = np.where(mask[:, None] > 0, y, garbage)
    text2 = np.where(text_mask[:, :, None] > 0, text, garbage[:, None, :])
    xv = tf.Variable(x)
    with tf.GradientTape(persistent=True) as tape:
        a = losses.nce(xv, tf.constant(y), 0.1, mask=mask)
        b = losses.nce(xv, tf.constant(y2), 0.1, mask=mask)
        c = losses.mil_nce(xv, tf.constant(text), text_mask, 0.1)
        d = losses.mil_nce(xv, tf.constant(text2), text_mask, 0.1)
    assert abs(float(a) - float(b)) <= 1e-12 and abs(float(c) - float(d)) <= 1e-12
    grad_nce, grad_mil = tape.gradient(a, xv).numpy(), tape.gradient(c, xv).numpy()
    assert np.all(grad_nce[mask == 0] == 0) and np.abs(grad_nce[mask == 1]).max() > 1e-4
    assert np.all(grad_mil[2] == 0) and np.abs(grad_mil[[0, 1, 3]]).max() > 1e-4


@pytest.mark.parametrize("use_clip_mask", [False, True])
def test_mil_nce_removes_clips_without_text(use_clip_mask):
    x, _, text = _data(3)
    rng = np.random.default_rng(4)
    text_mask = (rng.random(text.shape[:2]) < 0.7).astype(np.float32)
    text_mask[:, 0] = 1.0
    text_mask[1] = 0.0  # no text at all
    clip_mask = np.array([1, 1, 1, 0, 1, 1, 0], np.float32) if use_clip_mask else None
    got = losses.mil_nce(tf.constant(x), tf.constant(text), text_mask, 0.15, clip_mask=clip_mask)
    assert abs(float(got) - np_mil_nce_on_kept(x, text, text_mask, 0.15, clip_mask)) <= 1e-12


def test_no_real_anchor_gives_zero_and_finite_gradient():
    x, y, text = _data(5)
    xv = tf.Variable(x)
    with tf.GradientTape(persistent=True) as tape:
        a = losses.nce(xv, tf.constant(y), 0.1, mask=np.zeros(7))
        b = losses.mil_nce(xv, tf.constant(text), np.zeros(text.shape[:2]), 0.1)
    assert float(a) == 0.0 and float(b) == 0.0
    for value in (a, b):
        grad = tape.gradient(value, xv).numpy()
        assert np.all(np.isfinite(grad)) and np.all(grad == 0)


def test_float32_masked_losses_match_reference():
    x, y, text = _data(6)
    mask = np.array([0, 1, 1, 1, 0, 1, 1], np.float32)
    got = losses.nce(tf.constant(x, tf.float32), tf.constant(y, tf.float32), 0.07, mask=mask)
    assert got.dtype == tf.float32
    np.testing.assert_allclose(float(got), np_nce_on_kept(x, y, 0.07, mask), rtol=1e-5)
    text_mask = np.ones(text.shape[:2]) * mask[:, None]
    got = losses.mil_nce(tf.constant(x, tf.float32), tf.constant(text, tf.float32), text_mask, 0.07)
    np.testing.assert_allclose(float(got), np_mil_nce_on_kept(x, text, text_mask, 0.07), rtol=1e-5)


@pytest.mark.parametrize("call, argument", [
    (lambda x, t: losses.nce(x, x, 0.1, mask=np.ones((7, 2))), "mask"),
    (lambda x, t: losses.nce(x, x, 0.1, mask=np.ones(5)), "mask"),
    (lambda x, t: losses.nce(x, x, 0.1, mask=np.array(["a"] * 7)), "mask"),
    (lambda x, t: losses.mil_nce(x, t, None, 0.1, clip_mask=np.ones(3)), "clip_mask"),
])
def test_bad_masks_raise_naming_the_argument(call, argument):
    x, _, text = _data(7)
    with pytest.raises(ValueError, match=f"`{argument}`"):
        call(tf.constant(x), tf.constant(text))


CHILD = """
import numpy as np
import tensorflow as tf
from sslzoo import losses
from testing_utils import write_result

LOCAL, REPLICAS, IN_DIM, EMB_DIM, K = 5, 2, 6, 4, 3
rng = np.random.default_rng(0)
n = LOCAL * REPLICAS
data = {
    "x": rng.normal(size=(n, IN_DIM)), "y": rng.normal(size=(n, IN_DIM)), "text": rng.normal(size=(n, K, IN_DIM)),
    # replica 0 keeps 4 of its 5 audio clips, replica 1 only 2: unequal counts per replica
    "mask": np.array([1, 1, 0, 1, 1, 0, 1, 0, 0, 1], np.float64),
    "text_mask": (rng.random((n, K)) < 0.7).astype(np.float64),
    "clip_mask": np.array([1, 1, 1, 1, 1, 1, 0, 1, 1, 1], np.float64),
}
data["text_mask"][:, 0] = 1.0
data["text_mask"][[1, 7, 8]] = 0.0  # clips without text, two on replica 1
data = {k: tf.constant(v, tf.float64) for k, v in data.items()}
W0 = rng.normal(size=(IN_DIM, EMB_DIM))

LOSSES = {
    "nce": lambda b, w: losses.nce(b["x"] @ w, b["y"] @ w, 0.1, mask=b["mask"]),
    "mil_nce": lambda b, w: losses.mil_nce(b["x"] @ w, tf.einsum("bki,ij->bkj", b["text"], w), b["text_mask"],
                                           0.1, clip_mask=b["clip_mask"]),
}


def losses_and_grads(batch, w, replicas):
    out = {}
    for name, fn in LOSSES.items():
        with tf.GradientTape() as tape:
            value = fn(batch, w)
            scaled = value / replicas
        out[name] = (value, tape.gradient(scaled, w))
    return out


w_single = tf.Variable(W0)
single = losses_and_grads(data, w_single, 1)
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    w_split = tf.Variable(W0)


def halves(ctx):
    i = ctx.replica_id_in_sync_group
    return {k: v[i * LOCAL:(i + 1) * LOCAL] for k, v in data.items()}


batch = strategy.experimental_distribute_values_from_function(halves)


@tf.function
def split_step(batch):
    per_replica = strategy.run(lambda b: losses_and_grads(b, w_split, REPLICAS), args=(batch,))
    return {name: (strategy.reduce("MEAN", v, axis=None), strategy.reduce("SUM", g, axis=None))
            for name, (v, g) in per_replica.items()}


result = {}
for name, (value, grad) in split_step(batch).items():
    single_value, single_grad = single[name]
    result[name] = {"single": float(single_value), "split": float(value),
                    "grad_error": float(np.abs(grad.numpy() - single_grad.numpy()).max()),
                    "grad_scale": float(np.abs(single_grad.numpy()).max())}
write_result(result)
"""


@pytest.mark.subprocess
def test_two_replicas_equal_one_device_in_float64(tmp_path):
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    result = run_python(CHILD, devices=2, tmp_path=tmp_path, env={"PYTHONPATH": tests_dir})
    for name, got in result.items():
        assert np.isfinite(got["single"]) and got["grad_scale"] > 1e-3, got
        assert abs(got["split"] - got["single"]) <= 1e-9, (name, got)
        assert got["grad_error"] <= 1e-9, (name, got)
