"""Split equivalence: a fit step on 2 replicas leaves the same weights as on one device."""
import os

import pytest

import objective_harness as harness
from testing_utils import run_python

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def split_results():
    script = harness.split_equivalence_script(harness.OBJECTIVES, TESTS_DIR)
    return run_python(script, devices=2, timeout=900)


@pytest.mark.parametrize("name", harness.OBJECTIVES)
def test_two_replicas_match_one_device(name, split_results):
    result = split_results[name]
    assert result["moved"] > 1e-4, f"{name}: the step did not change the weights: {result}"
    assert result["max_weight_diff"] <= 1e-5, f"{name}: {result}"


def test_moco_queue_holds_gathered_keys_on_every_replica(split_results):
    result = split_results["moco_v2"]
    assert result["queue_replica_diff"] == 0.0
    assert result["queue_vs_single"] <= 1e-5
    assert result["pointer"] == 2 * 16 % 64  # two steps of a global batch of 16
