"""Exact, atomic training backups: a run killed at any step resumes where it stopped.

    passes = sslzoo.data.pipeline.endless_passes(make_pass, seed)    # one pass after another
    backup = sslzoo.backup.ExactBackupAndRestore(root, every_steps=100, data_position="checkpoint")
    model.fit(passes, steps_per_epoch=S, epochs=E, callbacks=[..., backup])

Keras' own `BackupAndRestore` (3.15) saves the weights file in place and records
`{"epoch", "batch"}`, but restores the weights and the epoch only: a backup taken
mid-epoch resumes at the start of that epoch, so the interrupted epoch's first
batches are trained twice, the optimizer step and the learning-rate schedule run
ahead of the data, and the input pipeline restarts from its first batch. A kill
while the weights file is written leaves a corrupt file (its `double_checkpoint`
then falls back to a copy).

This callback restores everything a step depends on:

- every variable of the model (weights, batch-norm statistics, queues and their
  pointers, momentum teachers, Keras seed-generator states), of the optimizer
  (its step count `iterations`, which drives the learning-rate schedule, momentum
  schedules and freeze counters; slots; the loss scale of mixed float16) and of
  the metric trackers (so the resumed epoch logs the same means);
- the epoch and the batch within it: a resumed epoch runs only its remaining
  batches (Keras counts the skipped ones as done without training on them);
- the input position: with `data_position="checkpoint"` the input iterator itself
  (a `tf.data` checkpoint: the pass, the place in it, any buffers), for one
  iterator serving the whole run (`endless_passes` with `steps_per_epoch`; not
  `.repeat()` over a reshuffling `shuffle`, whose next pass a checkpoint does not
  reliably restore, see `sslzoo.data.pipeline.endless_passes`); with "replay" (an
  iterator per epoch) a resumed epoch draws and drops the batches it had
  consumed. Either is exact when the pipeline itself is deterministic: no
  stateful random ops in its maps (`sslzoo.augment.views.batch_seed`).

`fit` must run one batch per train-function call (`steps_per_execution=1`, the
default): a resumed epoch counts its finished batches call by call.

Layout under `backup_dir` (one process per directory; see
`sslzoo.distribute.backup_dir`):

    step-000000001234/      a complete backup, named by the batches trained (1234)
        variables.npz       every variable above, in a fixed order
        iterator.index, iterator.data-*   the input iterator (data_position="checkpoint")
        state.json          epoch, batch in epoch, batches, a manifest of the variables
    .partial-...            a backup being written

A backup is written into a `.partial-*` folder and renamed to its final name once
complete (rename is atomic on a POSIX file system), so a kill during a save
leaves the previous backups intact; partial folders are ignored and removed. The
newest `keep` backups are kept; a newest one that cannot be read falls back to
the one before. A backup is never written with a non-finite value in it.
"""
import glob
import json
import os
import shutil
import time
import uuid
import warnings
import zipfile

import keras
import numpy as np
import tensorflow as tf

from sslzoo import keras_internals

PREFIX = "step-"
PARTIAL_PREFIX = ".partial-"
STATE_FILE = "state.json"
VARIABLES_FILE = "variables.npz"
ITERATOR_PREFIX = "iterator"
FORMAT_VERSION = 1
DATA_POSITIONS = ("checkpoint", "replay")


class BackupError(RuntimeError):
    """A backup cannot be restored into this model or input pipeline."""


class NonFiniteStateError(FloatingPointError):
    """The state to back up holds NaN or infinite values."""


# ------------------------------------------------------------------ the folder
def backup_name(batches):
    """The folder name of the backup taken after `batches` trained batches."""
    return f"{PREFIX}{int(batches):012d}"


def complete_backups(backup_dir):
    """Paths of the complete backups in `backup_dir`, newest (most batches) first."""
    found = []
    for path in glob.glob(os.path.join(glob.escape(os.fspath(backup_dir)), PREFIX + "*")):
        suffix = os.path.basename(path)[len(PREFIX):]
        if suffix.isdigit() and os.path.isfile(os.path.join(path, STATE_FILE)):
            found.append((int(suffix), path))
    return [path for _, path in sorted(found, reverse=True)]


def latest_backup(backup_dir):
    """The newest complete backup's folder, or None."""
    backups = complete_backups(backup_dir)
    return backups[0] if backups else None


def read_state(path):
    """The `state.json` dict of the backup folder `path`."""
    with open(os.path.join(path, STATE_FILE)) as f:
        return json.load(f)


def remove_partial(backup_dir):
    """Removes the partial backups a killed process left in `backup_dir`; returns their paths."""
    partial = glob.glob(os.path.join(glob.escape(os.fspath(backup_dir)), PARTIAL_PREFIX + "*"))
    for path in partial:
        shutil.rmtree(path, ignore_errors=True)
    return partial


def _fsync_dir(path):
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _write_file(path, write):
    """Calls `write(f)` on `path` opened for binary writing, then flushes it to disk."""
    with open(path, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())


# ------------------------------------------------------------------ the state
def state_variables(model):
    """[(group, variable)] of every variable a training step reads or writes, in a fixed order.

    Groups: "model" (`model.variables`: weights, non-trainable state, seed
    generators), "optimizer" (`model.optimizer.variables`: step, slots, loss
    scale) and "metrics" (the trackers' totals and counts). Each variable once.
    """
    seen, found = set(), []

    def add(group, variables):
        for variable in variables:
            if id(variable) not in seen:
                seen.add(id(variable))
                found.append((group, variable))

    add("model", model.variables)
    if model.optimizer is not None:
        add("optimizer", model.optimizer.variables)
    add("metrics", [v for metric in model.metrics for v in metric.variables])
    return found


def _describe(group, variable):
    return {"group": group, "path": getattr(variable, "path", variable.name), "shape": list(variable.shape),
            "dtype": keras.backend.standardize_dtype(variable.dtype)}


def _non_finite(arrays, manifest):
    return [entry["path"] for array, entry in zip(arrays, manifest)
            if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array))]


def save(path, model, state, iterator=None):
    """Writes one backup of `model` (and `iterator`) to the folder `path`, atomically.

    Args:
      path: the final folder (`<backup_dir>/step-...`); it must not exist yet.
      model: a compiled `keras.Model`.
      state: JSON-able dict stored in `state.json` (epoch, batch, ...).
      iterator: the `tf.data` (or distributed) iterator to checkpoint, or None.
    Raises:
      NonFiniteStateError: a variable holds NaN or inf (nothing is written).
    """
    variables = state_variables(model)
    manifest = [_describe(group, variable) for group, variable in variables]
    arrays = [np.asarray(keras.ops.convert_to_numpy(variable)) for _, variable in variables]
    bad = _non_finite(arrays, manifest)
    if bad:
        raise NonFiniteStateError(
            f"not backing up step {state.get('batches')}: {len(bad)} variables hold NaN or inf "
            f"(first: {bad[:5]}); the previous backup in {os.path.dirname(path)} is kept")
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    partial = os.path.join(parent, f"{PARTIAL_PREFIX}{os.path.basename(path)}-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    os.makedirs(partial)
    try:
        _write_file(os.path.join(partial, VARIABLES_FILE),
                    lambda f: np.savez(f, **{f"v{i:05d}": a for i, a in enumerate(arrays)}))
        if iterator is not None:
            tf.train.Checkpoint(iterator=iterator).write(os.path.join(partial, ITERATOR_PREFIX))
        full_state = {**state, "format": FORMAT_VERSION, "has_iterator": iterator is not None,
                      "time": time.time(), "variables": manifest}
        _write_file(os.path.join(partial, STATE_FILE), lambda f: f.write(json.dumps(full_state, indent=1).encode()))
        _fsync_dir(partial)
        os.rename(partial, path)  # atomic: the backup appears complete or not at all
        _fsync_dir(parent)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def read_backup(path, model):
    """(state dict, arrays) of the backup folder `path`, checked against `model`'s variables; assigns nothing.

    Raises:
      BackupError: the backup's variables do not match the model's (count, shape).
      OSError, ValueError, zipfile.BadZipFile: the backup cannot be read.
    """
    state = read_state(path)
    variables = state_variables(model)
    manifest = state.get("variables", [])
    if len(manifest) != len(variables):
        raise BackupError(f"backup {path} holds {len(manifest)} variables, the model has {len(variables)}: "
                          "it was written by a different model or optimizer; delete it to start over")
    with np.load(os.path.join(path, VARIABLES_FILE)) as saved:
        arrays = [saved[f"v{i:05d}"] for i in range(len(variables))]
    for (group, variable), entry, array in zip(variables, manifest, arrays):
        if list(array.shape) != list(variable.shape) or entry["group"] != group:
            raise BackupError(f"backup {path}: variable {entry['path']} ({entry['group']}, shape {entry['shape']}) "
                              f"does not match the model's {_describe(group, variable)}; delete it to start over")
    return state, arrays


def assign_variables(model, arrays):
    """Assigns `arrays` (from `read_backup`) to `model`'s `state_variables`, in order."""
    for (_, variable), array in zip(state_variables(model), arrays):
        variable.assign(array)


def restore_variables(path, model):
    """Assigns the variables saved in the backup folder `path` to `model`; returns its state dict."""
    state, arrays = read_backup(path, model)
    assign_variables(model, arrays)
    return state


# ------------------------------------------------------------------ the callback
class ExactBackupAndRestore(keras.callbacks.Callback):
    """Backs up the whole training state every `every_steps` batches and each epoch; resumes exactly.

    Put it last among the callbacks, so an epoch it has saved has been logged by
    the others (a kill between the two reruns nothing but the epoch-end callbacks).

    Args:
      backup_dir: this process's own folder (created if needed).
      every_steps: also back up after every `every_steps` trained batches (counted
        over the whole run, so resumed runs keep the same rhythm); None: each epoch only.
      data_position: "checkpoint" (save the input iterator; the input must be one
        dataset serving every epoch, `fit(endless_passes(...), steps_per_epoch=S)`)
        or "replay" (a resumed epoch skips the batches it had consumed by reading
        them; for a finite dataset, a fresh iterator per epoch).
      keep: how many complete backups to keep (>= 1; 2 keeps one to fall back on).
      delete_on_end: remove the backups when `fit` completes (as Keras does).
    """

    def __init__(self, backup_dir, every_steps=None, data_position="replay", keep=2, delete_on_end=True):
        super().__init__()
        if not backup_dir:
            raise ValueError(f"`backup_dir` must be a folder path, got {backup_dir!r}")
        if every_steps is not None and (isinstance(every_steps, bool) or not isinstance(every_steps, int)
                                        or every_steps < 1):
            raise ValueError(f"`every_steps` must be None or a positive int, got {every_steps!r}")
        if data_position not in DATA_POSITIONS:
            raise ValueError(f"`data_position` must be one of {DATA_POSITIONS}, got {data_position!r}")
        if isinstance(keep, bool) or not isinstance(keep, int) or keep < 1:
            raise ValueError(f"`keep` must be a positive int, got {keep!r}")
        self.backup_dir = os.fspath(backup_dir)
        self.every_steps = every_steps
        self.data_position = data_position
        self.keep = keep
        self.delete_on_end = bool(delete_on_end)
        self.restored_from = None  # the folder the last restore read, or None
        self.restored_state = None  # its state.json
        self._reset_run_state()

    def _reset_run_state(self):
        self._epoch = 0  # the epoch being trained
        self._batch_in_epoch = 0  # batches trained (or skipped as done) in it
        self._batches = 0  # batches trained over the whole run
        self._skip = 0  # batches of the resumed epoch that were trained before the interruption
        self._pending_metrics = None
        self._pending_iterator = None
        self._iterator = None

    # ------------------------------------------------------------- restoring
    def on_train_begin(self, logs=None):
        self._reset_run_state()
        self.restored_from = self.restored_state = None
        for path in remove_partial(self.backup_dir):
            warnings.warn(f"removed a partial backup a killed run left behind: {path}")
        model = self.model
        if model.optimizer is not None and not model.optimizer.built:
            with model.distribute_strategy.scope():
                model.optimizer.build(model.trainable_variables)  # its variables exist before they are restored
        state = self._restore_newest()
        if state is not None:
            self._epoch = int(state["epoch"])
            self._batch_in_epoch = self._skip = int(state["batch_in_epoch"])
            self._batches = int(state["batches"])
            keras_internals.set_initial_epoch(model, self._epoch)
        self._wrap_train_function()

    def _restore_newest(self):
        failures, found = [], None
        for path in complete_backups(self.backup_dir):
            try:
                found = (path, *read_backup(path, self.model))
                break
            except BackupError:
                raise
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:  # unreadable: the one before
                failures.append(f"{path}: {type(error).__name__}: {error}")
        if failures:
            warnings.warn("unreadable backups skipped: " + "; ".join(failures))
        self.agree(None if found is None else found[1])
        if found is None:
            if failures:
                raise BackupError("no backup could be read: " + "; ".join(failures) +
                                  f". Delete {self.backup_dir} to start over.")
            return None
        path, state, arrays = found
        assign_variables(self.model, arrays)
        self.restored_from, self.restored_state = path, state
        if state["batch_in_epoch"]:
            self._pending_metrics = arrays
        if state.get("has_iterator"):
            self._pending_iterator = os.path.join(path, ITERATOR_PREFIX)
        elif self.data_position == "checkpoint" and state["batches"]:
            warnings.warn(f"backup {path} holds no input position: the input restarts from its first batch")
        return state

    def agree(self, state):
        """Called once on every process with the backup about to be restored (None: none), before
        any variable is assigned; `sslzoo.distribute.ConsistentBackupAndRestore` checks there that
        every worker restores the same step."""

    def _restore_iterator(self, iterator):
        try:
            tf.train.Checkpoint(iterator=iterator).read(self._pending_iterator).assert_consumed()
        except (tf.errors.OpError, AssertionError, ValueError) as error:
            raise BackupError(f"the input position in {self._pending_iterator} does not fit this input pipeline "
                              f"({type(error).__name__}: {str(error)[:300]}); the pipeline must be built as when "
                              f"it was saved. Delete {os.path.dirname(self._pending_iterator)} to resume from "
                              "the backup before it.") from None
        self._pending_iterator = None

    def _wrap_train_function(self):
        model = self.model
        train_function = model.train_function
        callback = self

        def train_function_resuming(iterator):
            callback._iterator = iterator
            if callback._skip:  # a batch the interrupted run had trained: count it as done
                callback._skip -= 1
                if callback.data_position == "replay" and callback._pending_iterator is None:
                    next(iterator)
                return {metric.name: metric.result() for metric in model.metrics}
            if callback._pending_iterator is not None:
                callback._restore_iterator(iterator)
            logs = train_function(iterator)
            callback._batches += 1
            return logs

        model.train_function = train_function_resuming

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        if self._pending_metrics is not None:  # fit reset the trackers just before this call
            arrays, self._pending_metrics = self._pending_metrics, None
            assign_variables(self.model, arrays)  # the same values again, now with the trackers'
        else:
            self._batch_in_epoch = 0

    # ---------------------------------------------------------------- saving
    def on_train_batch_end(self, batch, logs=None):
        self._batch_in_epoch = batch + 1
        steps = self.params.get("steps")
        if (self.every_steps and self._skip == 0 and self._batches % self.every_steps == 0
                and not (steps and self._batch_in_epoch >= steps)):  # an epoch's last batch: on_epoch_end saves
            self._save(self._epoch, self._batch_in_epoch)

    def on_epoch_end(self, epoch, logs=None):
        self._save(epoch + 1, 0)

    def _save(self, epoch, batch_in_epoch):
        path = os.path.join(self.backup_dir, backup_name(self._batches))
        if os.path.isdir(path):
            return  # already saved at this step (by the rerun of an epoch's end)
        iterator = self._iterator if self.data_position == "checkpoint" else None
        state = {"epoch": epoch, "batch_in_epoch": batch_in_epoch, "batches": self._batches,
                 "optimizer_iterations": int(self.model.optimizer.iterations.numpy())
                 if self.model.optimizer is not None else None}
        save(path, self.model, state, iterator)
        for old in complete_backups(self.backup_dir)[self.keep:]:
            shutil.rmtree(old, ignore_errors=True)

    def on_train_end(self, logs=None):
        # Only a completed `fit` gets here: an error (a kill, a non-finite loss) leaves the backups.
        if self.delete_on_end:
            shutil.rmtree(self.backup_dir, ignore_errors=True)
