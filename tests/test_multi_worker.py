"""MultiWorkerMirroredStrategy with plain `model.fit`: 2 worker processes on localhost.

Each test launches this file as a script (`python test_multi_worker.py MODE OUT BACKUPS`)
in separate processes: two workers with a TF_CONFIG naming 127.0.0.1 ports, and for
reference one process without TF_CONFIG that trains on the same global batch.
Every process runs under its own timeout. Rounds:

1. "fit": SimCLR and MoCo v2 train 2 epochs (4 steps of global batch 16) in float64 and
   in float32; the one process also trains float32 on the same batches with their rows
   in two other orders (the rounding floor). Then SimCLR trains again with a per-worker
   `ConsistentBackupAndRestore` and is killed (`os._exit`) right after its first
   epoch's backup.
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

import objective_harness as harness
from sslzoo import distribute

TESTS_DIR = os.path.dirname(os.path.abspath(__file__))
OBJECTIVES = ("simclr", "moco_v2")
DTYPES = ("float64", "float32")
GLOBAL_BATCH = 16
EPOCHS = 2
STEPS_PER_EPOCH = 2
PREEMPTED_EXIT_CODE = 75
PROCESS_TIMEOUT_S = 150


# --------------------------------------------------------------- the processes
def _launch(mode, out_dir, backup_root, workers):
    """Starts `workers` processes (0: one process without TF_CONFIG) running `mode`."""
    # oneDNN as the test session has it (conftest: off unless TF_ENABLE_ONEDNN_OPTS is set).
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
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

    with np.load(out / "fit_single.npz") as single:
        tolerances = {name: {"float64": harness.FLOAT64_TOLERANCE,
                             "float32": float(single[f"{name}_float32_tolerance"])} for name in OBJECTIVES}
    measured = {}
    for name in OBJECTIVES:
        for dtype in DTYPES:
            key = f"{name}_{dtype}"
            reference = _weights(out / "fit_single.npz", f"{key}_final")
            workers = [_weights(out / f"fit_{i}.npz", f"{key}_final") for i in (0, 1)]
            start = _weights(out / "fit_single.npz", f"{key}_initial")
            assert _max_diff(_weights(out / "fit_0.npz", f"{key}_initial"), start) == 0.0
            assert _max_diff(start, reference) > 1e-3, f"{key}: training did not move the weights"
            # The two workers run the same collectives on the same reduced values.
            assert _max_diff(workers[0], workers[1]) == 0.0, f"{key}: workers disagree"
            # float64: split-exact up to float64 rounding (harness.FLOAT64_TOLERANCE); float32: 10x the
            # floor the one process measured in this run (harness.float32_tolerance).
            measured[key] = _max_diff(workers[0], reference)
            assert measured[key] <= tolerances[name][dtype], \
                f"{key}: multi-worker != one process: {measured[key]:.3g} > {tolerances[name][dtype]:.3g}"
    print("multi-worker vs one process:", json.dumps(measured), "tolerances:", json.dumps(tolerances))

    # Round 2: resume from both backups, and (at once, other ports) with the worker's lost.
    lost = tmp_path / "lost_backups"
    shutil.copytree(backups, lost)
    shutil.rmtree(lost / "worker_1")
    resumed = _wait(_launch("resume", out, backups, workers=2) + _launch("lost", out, lost, workers=2))
    for index, (code, stderr) in enumerate(resumed[:2]):
        assert code == 0, f"resumed worker {index} exited {code}:\n{stderr[-6000:]}"
    uninterrupted = _weights(out / "fit_0.npz", "simclr_float32_final")
    for index in (0, 1):
        restarted = _weights(out / f"resume_{index}.npz", "simclr_final")
        # resume replays the same collective steps from the restored weights: only reduction order
        # may differ, a few eps32 x |w| <= 1 -> 1e-6; a resume bug (lost optimizer state or step) is >= 1e-3
        # (at the harness's learning rate one step moves weights by > 1e-3, checked above).
        assert _max_diff(restarted, uninterrupted) <= 1e-6, f"worker {index} did not resume identically"
        assert int(np.load(out / f"resume_{index}.npz")["restored_step"]) == STEPS_PER_EPOCH
    for index, (code, stderr) in enumerate(resumed[2:]):
        assert code != 0, f"worker {index} trained on from a lost backup"
        assert "ResumeMismatchError" in stderr and f"min 0, max {STEPS_PER_EPOCH}" in stderr, stderr[-6000:]


# ------------------------------------------------------------ the worker side
def _worker_main(mode, out_dir, backup_root):
    import keras
    import tensorflow as tf

    from tiny_models import load_digits

    from sslzoo import distribute

    strategy = distribute.strategy("auto")
    config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    task = str(config["task"]["index"]) if config else "single"
    images, _ = load_digits(STEPS_PER_EPOCH * GLOBAL_BATCH)
    view_1, view_2 = harness.fixed_views(images)

    def build(name, initial=None):
        with strategy.scope():
            keras.utils.set_random_seed(7)
            model = harness.make_objective(name)
            if initial is not None:
                model.set_weights(initial)
            model.compile(optimizer=keras.optimizers.SGD(harness.LEARNING_RATE, momentum=0.9))
        return model

    def data(name, dtype="float32", layout=None):
        """The batches of `name` (`layout`: other arrays in its batch layout; None: the fixed views)."""
        if layout is None:
            layout = harness.batch_layout(name, view_1, view_2)
        layout = harness.as_dtype(layout, dtype)
        dataset = harness.dataset(layout, GLOBAL_BATCH)
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
            for dtype in DTYPES:
                harness.set_float_dtype(dtype)
                model = build(name)
                start = model.get_weights()
                record(f"{name}_{dtype}_initial", model)
                model.fit(data(name, dtype), epochs=EPOCHS, verbose=0, shuffle=False)
                record(f"{name}_{dtype}_final", model)
                if task == "single" and dtype == "float32":
                    def refit(layout, initial):
                        other = build(name, initial=initial)
                        other.fit(data(name, dtype, layout), epochs=EPOCHS, verbose=0, shuffle=False)
                        return other
                    floor = harness.rounding_floor(name, harness.batch_layout(name, view_1, view_2), start, model,
                                                   fit=refit)
                    arrays[f"{name}_float32_floor"] = floor
                    arrays[f"{name}_float32_tolerance"] = harness.float32_tolerance(floor, model)
        harness.set_float_dtype("float32")
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
