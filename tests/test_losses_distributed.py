"""Split equivalence: each loss under a 2-replica MirroredStrategy equals the single-device loss.

One child process (2 logical CPUs) computes every loss twice: on the global batch
on one device, and split in two per-replica halves inside `strategy.run`. The mean
over replicas of the loss and the replica-summed gradient of loss / num_replicas
with respect to a shared projection W must equal the single-device values.
"""
import os

import numpy as np
import pytest

from testing_utils import run_python

CHILD = """
import sys
sys.path.insert(0, {tests_dir!r})
import numpy as np
import tensorflow as tf
from sslzoo import losses
from testing_utils import write_result

LOCAL, REPLICAS, IN_DIM, EMB_DIM, CANDIDATES = 4, 2, 6, 5, 3
rng = np.random.RandomState(0)
n = LOCAL * REPLICAS
data = {{
    "x1": rng.randn(n, IN_DIM), "x2": rng.randn(n, IN_DIM), "crop3": rng.randn(n, IN_DIM),
    "text": rng.randn(n, CANDIDATES, IN_DIM), "mask": rng.rand(n, CANDIDATES) < 0.7,
    "similar": (rng.rand(n) < 0.5).astype(np.float32), "queue": rng.randn(7, EMB_DIM),
}}
data["mask"][:, 0] = True
DTYPE = tf.{dtype}
data = {{k: tf.constant(v, tf.bool if v.dtype == bool else DTYPE) for k, v in data.items()}}
W0 = rng.randn(IN_DIM, EMB_DIM).astype(DTYPE.as_numpy_dtype)
F = np.float64  # hyperparameters as float64 numbers (a Python float is rounded to float32 by the losses)


def project(batch, w):
    return {{k: tf.einsum("...i,ij->...j", batch[k], w) for k in ("x1", "x2", "crop3", "text")}}


LOSSES = {{
    "margin_contrastive": lambda b, e: losses.margin_contrastive(e["x1"], e["x2"], b["similar"], F(2.0)),
    "nt_xent": lambda b, e: losses.nt_xent(e["x1"], e["x2"], F(0.3)),
    "info_nce": lambda b, e: losses.info_nce(e["x1"], e["x2"], temperature=F(0.3)),
    "info_nce_queue": lambda b, e: losses.info_nce(e["x1"], e["x2"], b["queue"], F(0.3)),
    "barlow_twins": lambda b, e: losses.barlow_twins(e["x1"], e["x2"], F(0.05)),
    "swav": lambda b, e: losses.swav([e["x1"], e["x2"], e["crop3"]], 2, F(0.3), F(0.2), 3),
    "clip": lambda b, e: losses.clip(e["x1"], e["x2"], F(8.0)),
    "nce": lambda b, e: losses.nce(e["x1"], e["x2"], F(0.2)),
    "mil_nce": lambda b, e: losses.mil_nce(e["x1"], e["text"], b["mask"], F(0.3)),
}}


def losses_and_grads(batch, w, replicas):
    out = {{}}
    for name, fn in LOSSES.items():
        with tf.GradientTape() as tape:
            value = fn(batch, project(batch, w))
            scaled = value / replicas
        out[name] = (value, tape.gradient(scaled, w))
    out["sinkhorn"] = losses.sinkhorn(project(batch, w)["x1"], epsilon=F(0.2), iterations=4)
    return out


w_single = tf.Variable(W0)
single = losses_and_grads(data, w_single, 1)

strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    w_split = tf.Variable(W0)


def halves(ctx):
    i = ctx.replica_id_in_sync_group
    return {{k: (v if k == "queue" else v[i * LOCAL:(i + 1) * LOCAL]) for k, v in data.items()}}


batch = strategy.experimental_distribute_values_from_function(halves)


@tf.function
def split_step(batch):
    per_replica = strategy.run(lambda b: losses_and_grads(b, w_split, REPLICAS), args=(batch,))
    codes = tf.concat(strategy.experimental_local_results(per_replica.pop("sinkhorn")), axis=0)
    reduced = {{
        name: (strategy.reduce("MEAN", value, axis=None), strategy.reduce("SUM", grad, axis=None))
        for name, (value, grad) in per_replica.items()
    }}
    return reduced, codes


split, split_codes = split_step(batch)
result = {{"sinkhorn_code_error": float(np.abs(split_codes.numpy() - single["sinkhorn"].numpy()).max())}}
for name, (value, grad) in split.items():
    single_value, single_grad = single[name]
    result[name] = {{
        "single": float(single_value), "split": float(value),
        "grad_error": float(np.abs(grad.numpy() - single_grad.numpy()).max()),
        "grad_scale": float(np.abs(single_grad.numpy()).max()),
    }}
write_result(result)
"""

NAMES = ["margin_contrastive", "nt_xent", "info_nce", "info_nce_queue", "barlow_twins", "swav", "clip", "nce", "mil_nce"]


# float64 proves the split exact: both sides differ only by float64 rounding (eps 2.2e-16) of
# reordered sums of <= 2 x 8 x 3 terms on values <= ~20 -> <= ~1e-13 relative; 1e-12.
# float32 checks the same code path at working precision: the split reorders the same sums,
# each term rounded with eps32 = 1.2e-7; the longest chain is SwAV's (3 Sinkhorn iterations
# 2 x 3 x (1 + log2 8) = 18, log-softmax 3, ops ~4, dot product 6 -> <= 32 terms) on
# intermediates <= max(1/t or scale = 8, |value|) -> EPS32 x 32 x max(8, |value|) (>= 3.1e-5).
# A split bug (a per-replica mean, a missing gather) errs by O(0.1-1).
TOLERANCE = {"float64": lambda scale: 1e-12 * max(1.0, scale),
             "float32": lambda scale: float(np.finfo(np.float32).eps) * 32 * max(8.0, scale)}


@pytest.fixture(scope="module", params=["float64", "float32"])
def split_result(request, tmp_path_factory):
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    result = run_python(CHILD.format(tests_dir=tests_dir, dtype=request.param), devices=2,
                        tmp_path=tmp_path_factory.mktemp("losses"))
    return request.param, result


@pytest.mark.subprocess
@pytest.mark.parametrize("name", NAMES)
def test_split_batch_matches_single_device(split_result, name):
    dtype, result = split_result
    got, tolerance = result[name], TOLERANCE[dtype]
    assert np.isfinite(got["single"]) and got["grad_scale"] > 1e-3, got  # non-vacuous comparison
    assert abs(got["split"] - got["single"]) <= tolerance(abs(got["single"])), got
    assert got["grad_error"] <= tolerance(got["grad_scale"]), got


@pytest.mark.subprocess
def test_split_sinkhorn_codes_are_rows_of_global_codes(split_result):
    dtype, result = split_result
    # Codes <= 1 from exp(s / 0.2); entry by entry against the single-device codes (not their
    # sums, which are 1 per row by construction).
    assert result["sinkhorn_code_error"] <= TOLERANCE[dtype](1.0), result["sinkhorn_code_error"]
