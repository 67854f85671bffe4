"""Every registered objective, saved as `.keras`, goes through every program in a fresh process.

For each objective of the shared battery (`objective_harness.OBJECTIVES`; MMV has
its own, tests/test_export_multimodal.py), the test saves a tiny instance with
trained-looking batch-norm statistics and the embeddings `model.embed` gives on raw
digits. One child interpreter, which imports nothing of sslzoo beforehand, then
runs `sslzoo-export`'s `export_model` and `sslzoo-eval`'s `load_trained_encoder` on each
file. The export's `image` signature must give every space `model.embed` gives
(export parity) and the reloaded encoder the same features.

Tolerance 1e-5, relative to each output's largest entry: the same float32 kernels
on the same weights, graph versus eager execution; the derivation is in
tests/test_export_multimodal.py's docstring (reordered sums of <= 150 terms of
order 1: ~1e-6 typical, 1e-5 worst). A missing preprocessing step or BN in
training mode moves the outputs by 1e-2 or more.
"""
import os
import subprocess
import sys

import numpy as np
import pytest

import objective_harness as harness
import tiny_models

TOLERANCE = 1e-5
NAMES = tuple(n for n in harness.OBJECTIVES if n not in harness.VARIANTS)

CHILD = """
import json, os, sys
import numpy as np
from sslzoo.export import main as export_main
from sslzoo.export.saved_model import load_saved_model
from sslzoo.saving import load_trained_encoder

root, names = sys.argv[1], sys.argv[2].split(",")
raw = np.load(os.path.join(root, "raw.npy"))
results = {}
for name in names:
    run = os.path.join(root, name)
    export_main.export_model(run, os.path.join(run, "export"), "saved_model")
    served = load_saved_model(os.path.join(run, "export")).signatures["image"](image=raw)
    np.savez(os.path.join(run, "served.npz"), **{k: v.numpy() for k, v in served.items()})
    encoder = load_trained_encoder(run)
    np.save(os.path.join(run, "reloaded_features.npy"), np.asarray(encoder(np.load(os.path.join(root, "inputs.npy")))))
    results[name] = sorted(served)
print(json.dumps(results))
"""


def _relative_difference(got, expected):
    scale = max(float(np.max(np.abs(expected))), 1e-12)
    return float(np.max(np.abs(np.asarray(got, np.float64) - expected))) / scale


def _randomise_batch_norm_statistics(model, seed=0):
    """Moving means ~ N(0, 0.1), variances ~ U(0.5, 2): inference-mode BN is far from identity."""
    rng = np.random.default_rng(seed)
    for variable in model.non_trainable_variables:
        if "moving_mean" in variable.path:
            variable.assign(rng.normal(0.0, 0.1, variable.shape).astype(np.float32))
        elif "moving_variance" in variable.path:
            variable.assign(rng.uniform(0.5, 2.0, variable.shape).astype(np.float32))


@pytest.mark.subprocess
def test_every_objective_reloads_and_exports_through_the_programs(digits, tmp_path):
    from sslzoo.preprocessing import eval_images

    images, _ = digits
    raw = np.repeat(images[:6, ..., None], 3, axis=-1)                     # uint8 (6, 28, 28, 3)
    inputs = eval_images(raw, tiny_models.IMAGE_SIZE).numpy()               # float32 (6, 16, 16, 3)
    np.save(tmp_path / "raw.npy", raw)
    np.save(tmp_path / "inputs.npy", inputs)
    expected = {}
    for name in NAMES:
        # CLIP exports a text signature on raw strings, so it needs its tokenizer.
        model = tiny_models.clip(tiny_models.caption_tokenizer()) if name == "clip" else harness.make_objective(name)
        _randomise_batch_norm_statistics(model)
        # embed builds every head it serves before the model is saved.
        expected[name] = {space: model.embed(inputs, "image", space).numpy() for space in model.spaces("image")}
        (tmp_path / name).mkdir()
        model.save(str(tmp_path / name / "model.keras"))

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
    done = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path), ",".join(NAMES)], capture_output=True,
                          text=True, env=env, timeout=600, cwd=os.path.dirname(os.path.dirname(__file__)))
    assert done.returncode == 0, done.stderr[-4000:]

    for name in NAMES:
        served = dict(np.load(tmp_path / name / "served.npz"))
        assert set(served) == set(expected[name]), (name, sorted(served), sorted(expected[name]))
        for space, want in expected[name].items():
            difference = _relative_difference(served[space], want)
            assert difference <= TOLERANCE, f"{name} {space}: export vs model.embed {difference:.2e}"
        reloaded = np.load(tmp_path / name / "reloaded_features.npy")
        difference = _relative_difference(reloaded, expected[name]["features"])
        assert difference <= TOLERANCE, f"{name}: sslzoo-eval's encoder vs model.embed {difference:.2e}"
