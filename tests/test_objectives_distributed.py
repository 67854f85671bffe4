"""Split equivalence: fit steps on 2 replicas leave the same weights as on one device.

Every objective of the harness runs two SGD steps on one device and on 2 logical
CPUs (MirroredStrategy), from the same weights on the same global batches:

- in float64 the two must agree to `FLOAT64_TOLERANCE` (1e-9): the algorithm is
  split-exact, whatever the CPU;
- in float32 to within `FLOOR_FACTOR` x the rounding floor measured in the same
  run (the same steps on one device with each batch's rows reordered, or from
  weights one float32 spacing away), so the bound follows the CPU's own rounding
  instead of a constant tuned on one CPU.

The measured table is printed past pytest's capture, so every CI log carries it.

Both checks are shown to fail on injected split bugs (a per-replica statistic
where the global one belongs) in Barlow Twins, Sinkhorn and the MoCo queue.
"""
import os

import pytest

import objective_harness as harness
from testing_utils import run_python

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def split_results(request):
    script = harness.split_equivalence_script(harness.OBJECTIVES, TESTS_DIR)
    results = run_python(script, devices=2, timeout=1200)
    lines = ["", "split equivalence, max |dw| 1 vs 2 replicas "
             f"(oneDNN {os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'default')}):",
             f"{'objective':<18}{'float64':>10}{'float32':>10}{'floor':>10}{'tolerance':>11}"]
    for name, entry in results.items():
        f64, f32 = entry["float64"], entry["float32"]
        lines.append(f"{name:<18}{f64['max_weight_diff']:>10.1e}{f32['max_weight_diff']:>10.1e}"
                     f"{f32['floor']:>10.1e}{f32['tolerance']:>11.1e}")
    with request.config.pluginmanager.getplugin("capturemanager").global_and_fixture_disabled():
        print("\n".join(lines), flush=True)
    return results


@pytest.fixture(scope="module")
def bug_results():
    """Per injected bug, the split results of the objective it breaks (one child each)."""
    results = {}
    for bug, name in harness.SPLIT_BUGS.items():
        script = harness.split_equivalence_script([name], TESTS_DIR, bug=bug)
        results[bug] = run_python(script, devices=2, timeout=600)[name]
    return results


@pytest.mark.parametrize("name", harness.OBJECTIVES)
def test_two_replicas_match_one_device_in_float64(name, split_results):
    result = split_results[name]["float64"]
    assert result["moved"] > 1e-4, f"{name}: the steps did not change the weights: {result}"
    assert result["max_weight_diff"] <= harness.FLOAT64_TOLERANCE, f"{name}: {result}"


@pytest.mark.parametrize("name", harness.OBJECTIVES)
def test_two_replicas_match_one_device_in_float32_within_the_rounding_floor(name, split_results):
    result = split_results[name]["float32"]
    assert result["moved"] > 1e-4, f"{name}: the steps did not change the weights: {result}"
    assert result["max_weight_diff"] <= result["tolerance"], f"{name}: {result}"


@pytest.mark.parametrize("bug", sorted(harness.SPLIT_BUGS))
def test_injected_split_bug_is_caught_in_both_dtypes(bug, bug_results):
    result = bug_results[bug]
    assert result["float64"]["max_weight_diff"] > 1e3 * harness.FLOAT64_TOLERANCE, f"{bug}: {result}"
    assert result["float32"]["max_weight_diff"] > result["float32"]["tolerance"], f"{bug}: {result}"


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_moco_queue_holds_gathered_keys_on_every_replica(dtype, split_results):
    result = split_results["moco_v2"][dtype]
    assert result["queue_replica_diff"] == 0.0  # the same assigned values on both replicas
    bound = harness.FLOAT64_TOLERANCE if dtype == "float64" else result["tolerance"]
    assert result["queue_vs_single"] <= bound
    assert result["pointer"] == harness.SPLIT_STEPS * harness.SPLIT_BATCH % 64  # queue of 64
