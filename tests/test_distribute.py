"""sslzoo.distribute: strategy choice, its description, and resume agreement."""
import json
import os

import pytest
import tensorflow as tf

from sslzoo import distribute
from testing_utils import run_python


@pytest.fixture
def no_cluster(monkeypatch):
    """No TF_CONFIG, no TPU variables, no TPU devices."""
    for variable in ("TF_CONFIG", "TPU_NAME", "COLAB_TPU_ADDR"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr(distribute.glob, "glob", lambda pattern: [])


def test_unknown_spec_lists_the_choices():
    with pytest.raises(ValueError, match=r"`spec` must be one of \('auto', 'default', 'mirrored', "
                                         r"'multi_worker', 'tpu'\), got 'gpu'"):
        distribute.strategy("gpu")


def test_auto_on_one_cpu_is_the_default_strategy(no_cluster):
    chosen = distribute.strategy("auto")
    assert chosen is tf.distribute.get_strategy()
    assert distribute.strategy_kind(chosen) == "default"
    assert distribute.strategy("default") is chosen


def test_auto_picks_multi_worker_for_a_cluster_of_two(no_cluster, monkeypatch):
    created = []
    monkeypatch.setattr(distribute.tf.distribute, "MultiWorkerMirroredStrategy", lambda: created.append(1) or "mwms")
    config = {"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, "task": {"type": "worker", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(config))
    assert distribute.strategy("auto") == "mwms" and created == [1]
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["127.0.0.1:1"]}}))
    assert distribute.strategy("auto") is tf.distribute.get_strategy()


def test_cluster_task_count_reads_tf_config():
    config = {"cluster": {"chief": ["a:1"], "worker": ["b:1", "c:1"], "ps": ["d:1"]}}
    assert distribute.cluster_task_count(json.dumps(config)) == 3
    assert distribute.cluster_task_count("") == 0
    with pytest.raises(ValueError, match="`TF_CONFIG` must be a JSON object"):
        distribute.cluster_task_count("not json")


def test_task_chief_and_backup_dir(no_cluster, monkeypatch):
    assert distribute.task() == ("worker", 0) and distribute.is_chief()
    assert distribute.backup_dir("/b") == "/b/worker_0"
    cluster = {"worker": ["a:1", "b:1"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 1}}))
    assert distribute.task() == ("worker", 1) and not distribute.is_chief()
    assert distribute.backup_dir("/b") == "/b/worker_1"
    cluster["chief"] = ["c:1"]
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "worker", "index": 0}}))
    assert not distribute.is_chief()
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "chief", "index": 0}}))
    assert distribute.is_chief() and distribute.backup_dir("/b") == "/b/chief_0"


def test_tpu_address_from_the_environment(no_cluster, monkeypatch):
    assert distribute.tpu_address() is None
    monkeypatch.setenv("COLAB_TPU_ADDR", "10.0.0.2:8470")
    assert distribute.tpu_address() == "grpc://10.0.0.2:8470"
    monkeypatch.setenv("TPU_NAME", "my-tpu")
    assert distribute.tpu_address() == "my-tpu"


def test_tpu_without_a_tpu_is_a_clear_error(no_cluster):
    with pytest.raises(ValueError, match="strategy 'tpu' needs a TPU: set TPU_NAME or COLAB_TPU_ADDR"):
        distribute.strategy("tpu")


def test_auto_falls_back_when_the_tpu_resolver_fails(no_cluster, monkeypatch):
    monkeypatch.setenv("TPU_NAME", "missing-tpu")

    def unreachable():
        raise ValueError("no such TPU")

    monkeypatch.setattr(distribute, "_tpu_resolver", unreachable)
    assert distribute.strategy("auto") is tf.distribute.get_strategy()


def test_describe_the_default_strategy_and_batch_errors():
    default = tf.distribute.get_strategy()
    assert distribute.describe(default, 32) == "strategy default: 1 replica, global batch 32, per replica 32"
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="`global_batch` must be a positive int"):
            distribute.describe(default, bad)
    assert distribute.check_resume_consistency(default, 7) == 7


MIRRORED_SCRIPT = """
from sslzoo import distribute
from testing_utils import write_result
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
try:
    distribute.per_replica_batch(strategy, 33)
    error = None
except ValueError as e:
    error = str(e)
write_result({"line": distribute.describe(strategy, 32), "error": error,
              "agreed": distribute.check_resume_consistency(strategy, 5)})
"""


def test_describe_and_resume_check_on_two_replicas(tmp_path):
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    result = run_python(f"import sys; sys.path.insert(0, {tests_dir!r})\n" + MIRRORED_SCRIPT, tmp_path=tmp_path)
    assert result["line"] == "strategy mirrored: 2 replicas, global batch 32, per replica 16"
    assert result["error"] == "`global_batch` (33) must be divisible by the number of replicas (2)"
    assert result["agreed"] == 5
