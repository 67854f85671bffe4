"""Choosing a `tf.distribute` strategy, describing it, and resuming safely.

    strategy = sslzoo.distribute.strategy("auto")
    print(sslzoo.distribute.describe(strategy, global_batch=256))
    with strategy.scope():
        model = ...; model.compile(...)
    backup = sslzoo.distribute.ConsistentBackupAndRestore(sslzoo.distribute.backup_dir(root))
    model.fit(dataset.batch(256, drop_remainder=True), callbacks=[backup])
    if sslzoo.distribute.is_chief():
        sslzoo.export.save(model.encoder, path)

Specs:
  "auto"          TPU when a TPU resolver is configured (TPU_NAME, COLAB_TPU_ADDR or a
                  TPU VM's /dev/accel* devices), multi-worker when TF_CONFIG names a
                  cluster of more than one task, mirrored when several GPUs are
                  visible, else the default strategy.
  "default"       `tf.distribute.get_strategy()` (one device, no replica context).
  "mirrored"      `MirroredStrategy` over the local GPUs (or the CPU).
  "multi_worker"  `MultiWorkerMirroredStrategy` from TF_CONFIG.
  "tpu"           `TPUStrategy` from the configured resolver.

Under multi-worker training every process backs up into its own directory
(`sslzoo.backup` writes one folder per process); `check_resume_consistency` makes the
workers agree on the step they restored before any of them trains, so a lost
backup fails loudly instead of silently desynchronising the replicas.
"""
import glob
import json
import os
import socket

import tensorflow as tf

from sslzoo import backup

STRATEGY_SPECS = ("auto", "default", "mirrored", "multi_worker", "tpu")


class ResumeMismatchError(RuntimeError):
    """Workers restored different training steps from their backups."""


# ------------------------------------------------------------------ detection
def cluster_task_count(tf_config=None):
    """Number of tasks (workers, chief, ...) that TF_CONFIG's cluster names (0 if unset).

    Args:
      tf_config: the TF_CONFIG JSON string; default: the environment variable.
    """
    text = os.environ.get("TF_CONFIG", "") if tf_config is None else tf_config
    if not text:
        return 0
    try:
        cluster = json.loads(text).get("cluster", {})
    except (ValueError, AttributeError) as error:
        raise ValueError(f"`TF_CONFIG` must be a JSON object with a 'cluster', got {text!r}") from error
    return sum(len(addresses) for job, addresses in cluster.items() if job != "ps")


def task():
    """(task type, index) of this process from TF_CONFIG; ("worker", 0) without one."""
    text = os.environ.get("TF_CONFIG", "")
    spec = json.loads(text).get("task", {}) if text else {}
    return spec.get("type", "worker"), int(spec.get("index", 0))


def is_chief():
    """True for the process that exports and reports: the chief, or worker 0 without a chief."""
    kind, index = task()
    has_chief = bool(os.environ.get("TF_CONFIG")) and "chief" in json.loads(os.environ["TF_CONFIG"]).get("cluster", {})
    return kind == "chief" or (kind == "worker" and index == 0 and not has_chief)


def backup_dir(root):
    """This process's own backup directory under `root`, e.g. `root/worker_1`.

    Backups (`sslzoo.backup`) hold one process's variables and input position.
    """
    kind, index = task()
    return os.path.join(root, f"{kind}_{index}")


def tpu_address():
    """The TPU to connect to ("local" on a TPU VM), or None when no TPU is configured."""
    for variable in ("TPU_NAME", "COLAB_TPU_ADDR"):
        if os.environ.get(variable):
            address = os.environ[variable]
            return address if variable == "TPU_NAME" or address.startswith("grpc://") else f"grpc://{address}"
    if glob.glob("/dev/accel*") or glob.glob("/dev/vfio/[0-9]*"):
        return "local"
    return None


def _tpu_resolver():
    address = tpu_address()
    if address is None:
        raise ValueError("strategy 'tpu' needs a TPU: set TPU_NAME or COLAB_TPU_ADDR, or run on a TPU VM")
    return tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address)


# ------------------------------------------------------------------ strategy
def strategy(spec="auto"):
    """Returns the `tf.distribute.Strategy` named by `spec` (see the module docstring).

    Raises:
      ValueError: `spec` is not one of `STRATEGY_SPECS`, or "tpu" without a TPU.
    """
    if spec not in STRATEGY_SPECS:
        raise ValueError(f"`spec` must be one of {STRATEGY_SPECS}, got {spec!r}")
    if spec == "auto":
        spec = _auto_spec()
    if spec == "default":
        return tf.distribute.get_strategy()
    if spec == "mirrored":
        return tf.distribute.MirroredStrategy()
    if spec == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = _tpu_resolver()
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def _auto_spec():
    if tpu_address() is not None:
        try:
            _tpu_resolver().cluster_spec()
            return "tpu"
        except (ValueError, RuntimeError, tf.errors.OpError):
            pass
    if cluster_task_count() > 1:
        return "multi_worker"
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return "mirrored"
    return "default"


def strategy_kind(strategy):
    """A short name of the strategy's kind: "tpu", "multi_worker", "mirrored", "one_device" or "default"."""
    if isinstance(strategy, (tf.distribute.TPUStrategy, tf.distribute.experimental.TPUStrategy)):
        return "tpu"
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return "multi_worker"
    if isinstance(strategy, tf.distribute.MirroredStrategy):
        return "mirrored"
    if isinstance(strategy, tf.distribute.OneDeviceStrategy):
        return "one_device"
    return "default"


def per_replica_batch(strategy, global_batch):
    """The batch each replica sees: `global_batch / num_replicas_in_sync` (must divide)."""
    replicas = strategy.num_replicas_in_sync
    if isinstance(global_batch, bool) or not isinstance(global_batch, int) or global_batch < 1:
        raise ValueError(f"`global_batch` must be a positive int, got {global_batch!r}")
    if global_batch % replicas:
        raise ValueError(
            f"`global_batch` ({global_batch}) must be divisible by the number of replicas ({replicas})"
        )
    return global_batch // replicas


def describe(strategy, global_batch):
    """One line for a training program to print, e.g.

    "strategy multi_worker: 2 replicas (2 workers), global batch 256, per replica 128"
    """
    kind = strategy_kind(strategy)
    replicas = strategy.num_replicas_in_sync
    workers = ""
    if kind == "multi_worker":
        spec = strategy.cluster_resolver.cluster_spec()
        workers = f" ({sum(spec.num_tasks(job) for job in spec.jobs)} workers)"
    return (
        f"strategy {kind}: {replicas} replica{'s' if replicas != 1 else ''}{workers}, "
        f"global batch {global_batch}, per replica {per_replica_batch(strategy, global_batch)}"
    )


# ------------------------------------------------------------------ resuming
def check_resume_consistency(strategy, step, what="step"):
    """Raises `ResumeMismatchError` unless every worker restored the same `step`.

    Gathers the integer `step` from every replica (a collective: every worker
    must call this at the same point) and compares its minimum and maximum.

    Args:
      strategy: the `tf.distribute.Strategy` training runs under.
      step: int or integer scalar, this worker's restored step (or epoch).
      what: name of the value in the error message.
    Returns:
      The agreed value (int).
    """
    value = tf.reshape(tf.cast(step, tf.int64), [1])

    @tf.function
    def gather_all():
        return strategy.run(lambda: tf.distribute.get_replica_context().all_gather(value, axis=0))

    gathered = strategy.experimental_local_results(gather_all())[0].numpy()
    low, high = int(gathered.min()), int(gathered.max())
    if low != high:
        raise ResumeMismatchError(
            f"Workers resumed from different {what}s (min {low}, max {high}; per replica "
            f"{gathered.tolist()}): a worker's backup is missing or stale. Restore every "
            "worker's backup directory from the same point, or delete all of them to start over."
        )
    return low


class ConsistentBackupAndRestore(backup.ExactBackupAndRestore):
    """`sslzoo.backup.ExactBackupAndRestore` that checks all workers restored the same step.

    Give each worker its own `backup_dir` (`backup_dir(root)`); the other
    arguments are `ExactBackupAndRestore`'s (exact mid-epoch resume, atomic
    backups, `every_steps`, `data_position`).
    Before restoring, the optimizer step each worker's backup holds is compared
    across workers with `check_resume_consistency`; a mismatch raises
    `ResumeMismatchError` on every worker before any variable changes.
    """

    def agree(self, state):
        # Before any variable is assigned: a worker without a backup must not wait in
        # a collective the others run while restoring.
        step = 0 if state is None else int(state.get("optimizer_iterations") or 0)
        check_resume_consistency(self.model.distribute_strategy, step, what="optimizer step")


def free_local_ports(count):
    """`count` TCP ports free on 127.0.0.1 now, for a localhost TF_CONFIG cluster."""
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports
