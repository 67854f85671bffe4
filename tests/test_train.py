"""sslzoo-train and sslzoo-eval end to end on a tiny budget, including resume after a kill."""
import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

TINY = json.dumps({"backbone": {"name": "small_cnn", "widths": [8, 16]}, "image_size": 16})
COMMON = ["--preset=simclr_digits", f"--override={TINY}", "--max_examples=256", "--batch_size=64",
          "--verbose=2", "--strategy=default"]


EPOCHS = 4
CHANCE_PLUS_MARGIN = 0.25  # 10-class chance 0.1 + 5.6 binomial sd on 128 test rows (see the report test)


def train_command(model_dir, epochs):
    return [sys.executable, "-m", "sslzoo.train.pretrain", *COMMON, f"--epochs={epochs}", f"--model_dir={model_dir}"]


def epochs_logged(model_dir):
    """Epoch indices in history.csv, in file order (a rerun epoch appears twice)."""
    path = os.path.join(model_dir, "history.csv")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


def epochs_backed_up(model_dir):
    """How many epochs the run's backups have completed (0 before the first)."""
    from sslzoo import backup

    for path in backup.complete_backups(os.path.join(model_dir, "backup", "worker_0")):
        try:
            state = backup.read_state(path)
        except (OSError, ValueError):
            return 0  # replaced by a newer backup while read
        return int(state["epoch"]) if state["batch_in_epoch"] == 0 else 0
    return 0


@pytest.fixture(scope="module")
def resumed_run(tmp_path_factory):
    """Starts a 4-epoch run, kills it (SIGKILL) once an epoch is backed up, reruns it.

    Returns (model_dir, the rerun's output, epochs backed up at the kill, epochs logged then).
    """
    model_dir = str(tmp_path_factory.mktemp("train"))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    first = subprocess.Popen(train_command(model_dir, EPOCHS), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             env=env)
    deadline = time.time() + 400
    while not epochs_backed_up(model_dir) and time.time() < deadline and first.poll() is None:
        time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first_output = first.communicate()[0].decode()
    saved, logged = epochs_backed_up(model_dir), epochs_logged(model_dir)
    assert 1 <= saved < EPOCHS, f"the first run was not stopped between epochs:\n{first_output[-3000:]}"
    second = subprocess.run(train_command(model_dir, EPOCHS), capture_output=True, text=True, env=env, timeout=600)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-5000:]
    return model_dir, second.stdout + second.stderr, saved, logged


def test_resume_continues_from_the_interrupted_epoch(resumed_run):
    model_dir, output, saved, logged_at_kill = resumed_run
    # Every epoch the backup holds was logged before the kill (the backup is the last callback).
    assert set(range(saved)) <= set(logged_at_kill)
    assert sorted(set(epochs_logged(model_dir))) == list(range(EPOCHS))
    for epoch in range(1, saved + 1):
        assert f"Epoch {epoch}/{EPOCHS}" not in output, f"the rerun trained epoch {epoch} again"
    assert all(f"Epoch {epoch}/{EPOCHS}" in output for epoch in range(saved + 1, EPOCHS + 1))


def test_validation_split_is_a_fixed_disjoint_eighth_of_the_training_images():
    from sslzoo.data import digits
    from sslzoo.train.image_task import validation_split

    images, labels = digits("train")
    (fit_x, fit_y), (held_x, held_y) = validation_split(images, labels)
    assert len(held_x) == 500 and len(fit_x) == 3500
    # Disjoint and complete: every training image is in exactly one part (the digits are distinct).
    rows = lambda x: {row.tobytes() for row in x}  # noqa: E731
    assert not rows(fit_x) & rows(held_x) and len(rows(fit_x) | rows(held_x)) == len(rows(images))
    (_, _), (again_x, _) = validation_split(images, labels)
    np.testing.assert_array_equal(again_x, held_x)
    assert len(np.unique(held_y)) == 10
    with pytest.raises(ValueError, match="too small"):
        validation_split(images[:1], labels[:1])


def test_report_plots_checkpoint_and_export_are_written(resumed_run):
    model_dir = resumed_run[0]
    with open(os.path.join(model_dir, "report.json")) as f:
        report = json.load(f)
    for key in ("linear_probe_top1", "knn_top1", "epochs", "train_seconds", "images_per_second"):
        assert key in report, key
    assert report["epochs"] == EPOCHS
    # Chance is 0.1 and a collapsed encoder scores about the majority-class rate (~0.15); on the
    # 128 test rows a binomial sd is sqrt(0.1 x 0.9 / 128) = 0.027, so 0.25 is chance + 5.6 sd.
    # Measured on this tiny run: probe 0.55, kNN 0.38 (oneDNN on and off pass).
    assert CHANCE_PLUS_MARGIN < report["linear_probe_top1"] <= 1.0
    # Validation (probe fitted on the training images minus the held-out eighth) and test blocks.
    assert set(report["validation"]) >= {"linear_probe_top1", "knn_top1"}
    assert report["test"]["linear_probe_top1"] == report["linear_probe_top1"]
    for name in ("loss.png", "probe_accuracy.png", "embedding_map.png", "collapse.png", "model.keras"):
        path = os.path.join(model_dir, name)
        assert os.path.getsize(path) > 1000, name
    assert os.path.exists(os.path.join(model_dir, "export", "saved_model", "saved_model.pb"))
    assert os.path.isdir(os.path.join(model_dir, "logs"))


def test_eval_program_on_the_trained_model(resumed_run, tmp_path):
    model_dir = resumed_run[0]
    output = tmp_path / "eval.json"
    proc = subprocess.run([sys.executable, "-m", "sslzoo.train.evaluate", f"--model={model_dir}",
                           "--max_examples=256", "--protocols=linear,knn", f"--output={output}"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(output.read_text())
    assert CHANCE_PLUS_MARGIN < results["linear_probe_top1"] <= 1.0  # as in the report test
    assert CHANCE_PLUS_MARGIN < results["knn_top1"] <= 1.0


@pytest.mark.parametrize("flag, message", [
    ("--preset=nope_digits", "choose from: barlow_twins_cifar10"),
    ("--batch_size=512", "larger than the training set"),
    ("--dataset=no_such_dataset", "no_such_dataset"),
])
def test_bad_input_fails_clearly(flag, message, tmp_path):
    command = train_command(str(tmp_path), 1) + [flag]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
