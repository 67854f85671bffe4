"""Replica-aware collectives used by the losses and the objectives.

The one convention of sslzoo (see README, "Distribution"): inside a
`tf.distribute` replica context with N replicas in sync, a loss returns the
loss of *this replica's share* of the anchors, computed against negatives and
statistics gathered from all replicas, so that the mean over replicas of the
returned values equals the loss of the global batch on one device. Objectives
divide that value by N before `tape.gradient` (the optimizer sums gradients
over replicas) and log the unscaled value.

Every function here is the identity (or a no-op) outside a replica context or
with a single replica, so the same code runs on one device.
"""
import tensorflow as tf

from sslzoo import keras_internals


def _context():
    """The current replica context if it spans more than one replica, else None."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return None
    return ctx


def num_replicas():
    """Number of replicas in sync (1 outside a replica context)."""
    ctx = tf.distribute.get_replica_context()
    return 1 if ctx is None else ctx.num_replicas_in_sync


def replica_id():
    """This replica's index as an int32 scalar tensor (0 outside a replica context)."""
    ctx = _context()
    if ctx is None:
        return tf.constant(0, tf.int32)
    return tf.cast(ctx.replica_id_in_sync_group, tf.int32)


def all_gather(x):
    """Concatenates `x` (B, ...) from every replica along axis 0 -> (N*B, ...).

    Differentiable: the gradient of the gathered tensor is summed over
    replicas and this replica's slice is returned (TF's ReplicaContext.all_gather).
    Replicas must hold the same local batch B (use `drop_remainder=True`).
    """
    ctx = _context()
    return x if ctx is None else ctx.all_gather(x, axis=0)


def all_reduce_sum(x):
    """Sum of `x` over replicas (differentiable: its gradient is also a sum)."""
    ctx = _context()
    return x if ctx is None else ctx.all_reduce(tf.distribute.ReduceOp.SUM, x)


def local_offset(local_batch):
    """Index of this replica's first row in the gathered batch: replica_id * local_batch.

    Args:
      local_batch: int or int32 scalar tensor, the per-replica batch size B.
    Returns:
      int32 scalar tensor.
    """
    return replica_id() * tf.cast(local_batch, tf.int32)


def global_rows(local_batch):
    """Row indices (B,) int32 of this replica's samples inside the gathered batch."""
    return local_offset(local_batch) + tf.range(tf.cast(local_batch, tf.int32), dtype=tf.int32)


def assign(variables, values):
    """Assigns `values` to `variables` on every replica, from a replica context.

    Non-trainable state (a momentum encoder, a queue of keys) is updated by the
    objective itself rather than by the optimizer. Mirrored variables cannot be
    assigned directly inside a replica context, so this steps into a merge call
    and updates each replica's copy with that replica's value. Callers make the
    values identical across replicas first (gather before enqueue), so every
    copy stays the same.

    Args:
      variables: list of Keras or tf variables.
      values: list of tensors of matching shapes.
    """
    variables, values = list(variables), list(values)
    if len(variables) != len(values):
        raise ValueError(f"`values` must match `variables`: got {len(values)} values for {len(variables)} variables")
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1 or not tf.distribute.has_strategy():
        for variable, value in zip(variables, values):
            variable.assign(value)
        return

    def merge_fn(strategy, per_replica_values):
        for variable, value in zip(variables, per_replica_values):
            strategy.extended.update(
                keras_internals.tf_variable(variable), lambda var, val: var.assign(val), args=(value,), group=False
            )

    ctx.merge_call(merge_fn, args=(values,))
