"""sslzoo-train and sslzoo-eval end to end on a tiny budget, including resume after a kill."""
import csv
import json
import os
import signal
import subprocess
import sys
import time

import pytest

TINY = json.dumps({"backbone": {"name": "small_cnn", "widths": [8, 16]}, "image_size": 16})
COMMON = ["--preset=simclr_digits", f"--override={TINY}", "--max_examples=256", "--batch_size=64",
          "--verbose=2", "--strategy=default"]


def train_command(model_dir, epochs):
    return [sys.executable, "-m", "sslzoo.train.pretrain", *COMMON, f"--epochs={epochs}", f"--model_dir={model_dir}"]


def epochs_logged(model_dir):
    path = os.path.join(model_dir, "history.csv")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [int(row["epoch"]) for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def resumed_run(tmp_path_factory):
    """Starts a 3-epoch run, kills it (SIGKILL) after its first epoch, reruns it."""
    model_dir = str(tmp_path_factory.mktemp("train"))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    first = subprocess.Popen(train_command(model_dir, 3), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    deadline = time.time() + 400
    while not epochs_logged(model_dir) and time.time() < deadline and first.poll() is None:
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)
    first_output = first.communicate()[0].decode()
    assert epochs_logged(model_dir) == [0], f"the first run did not stop after one epoch:\n{first_output[-3000:]}"
    second = subprocess.run(train_command(model_dir, 3), capture_output=True, text=True, env=env, timeout=600)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-5000:]
    return model_dir, second.stdout + second.stderr


def test_resume_continues_from_the_interrupted_epoch(resumed_run):
    model_dir, output = resumed_run
    assert epochs_logged(model_dir) == [0, 1, 2]
    assert "Epoch 1/3" not in output, "the rerun trained the first epoch again"
    assert "Epoch 2/3" in output and "Epoch 3/3" in output


def test_report_plots_checkpoint_and_export_are_written(resumed_run):
    model_dir, _ = resumed_run
    with open(os.path.join(model_dir, "report.json")) as f:
        report = json.load(f)
    for key in ("linear_probe_top1", "knn_top1", "epochs", "train_seconds", "images_per_second"):
        assert key in report, key
    assert report["epochs"] == 3
    assert 0.1 < report["linear_probe_top1"] <= 1.0  # above chance on 10 classes
    for name in ("loss.png", "probe_accuracy.png", "embedding_map.png", "model.keras"):
        path = os.path.join(model_dir, name)
        assert os.path.getsize(path) > 1000, name
    assert os.path.exists(os.path.join(model_dir, "export", "saved_model", "saved_model.pb"))
    assert os.path.isdir(os.path.join(model_dir, "logs"))


def test_eval_program_on_the_trained_model(resumed_run, tmp_path):
    model_dir, _ = resumed_run
    output = tmp_path / "eval.json"
    proc = subprocess.run([sys.executable, "-m", "sslzoo.train.evaluate", f"--model={model_dir}",
                           "--max_examples=256", "--protocols=linear,knn", f"--output={output}"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(output.read_text())
    assert 0.1 < results["linear_probe_top1"] <= 1.0 and 0.1 < results["knn_top1"] <= 1.0


@pytest.mark.parametrize("flag, message", [
    ("--preset=nope_digits", "Known presets"),
    ("--batch_size=512", "larger than the training set"),
    ("--dataset=no_such_dataset", "no_such_dataset"),
])
def test_bad_input_fails_clearly(flag, message, tmp_path):
    command = train_command(str(tmp_path), 1) + [flag]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr
