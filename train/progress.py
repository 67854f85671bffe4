"""Training-time bookkeeping shared by the programs: throughput and the resumable history."""
import csv
import time

import keras


class Throughput(keras.callbacks.Callback):
    """Measures training throughput, leaving out the first epoch (tracing, warm-up)."""

    def __init__(self):
        super().__init__()
        self.epoch_seconds, self.epoch_steps = [], []
        self._start, self._steps = None, 0

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._steps = time.perf_counter(), 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_seconds.append(time.perf_counter() - self._start)
        self.epoch_steps.append(self._steps)

    def images_per_second(self, global_batch):
        """Source images per second over the epochs after the first (all if only one)."""
        seconds = self.epoch_seconds[1:] or self.epoch_seconds
        steps = self.epoch_steps[1:] or self.epoch_steps
        return global_batch * sum(steps) / sum(seconds) if sum(seconds) else 0.0


def read_history(path):
    """The CSVLogger history (all epochs, across resumed runs) as {metric: [values]}.

    Rows of an epoch that was interrupted and rerun appear once: the last wins.
    Metrics missing from an epoch (CSVLogger writes "NA", e.g. the online probe
    on epochs it skips) are left out, so lists may be shorter than the epochs.
    """
    rows = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            rows[int(row["epoch"])] = row
    history = {}
    for epoch in sorted(rows):
        for key, value in rows[epoch].items():
            if key != "epoch" and value not in ("", "NA", None):
                history.setdefault(key, []).append(float(value))
    return history
