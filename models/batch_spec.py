"""What an objective's batch looks like, and one check of a batch against it.

Each objective declares `batch_spec`: a nested structure (tuple, dict) of
`Tensor` leaves, or `Crops` for a variable-length tuple of crops. `SSLModel`
checks every batch against it once, when the step is traced, so a wrong batch
fails with a message naming the objective, the expected and the received
structure instead of deep inside a layer.
"""
import dataclasses

import tensorflow as tf

_KINDS = {
    "float": lambda d: d.is_floating,
    "int": lambda d: d.is_integer,
    "numeric": lambda d: d.is_floating or d.is_integer or d.is_bool,
    "string": lambda d: d == tf.string,
}


@dataclasses.dataclass(frozen=True)
class Tensor:
    """One tensor of a batch: its rank, the kind of dtype and the axes' meaning.

    Attributes:
      rank: number of axes, batch first.
      kind: "float", "int", "numeric" (float, int or bool) or "string".
      layout: the axes, for messages, e.g. "(B, H, W, 3)".
      last_dim: the size of the last axis if fixed (3 for RGB images).
    """

    rank: int
    kind: str = "float"
    layout: str = ""
    last_dim: int = None

    def __post_init__(self):
        if self.kind not in _KINDS:
            raise ValueError(f"`kind` must be one of {sorted(_KINDS)}, got {self.kind!r}")

    def matches(self, tensor):
        shape, dtype = tf.TensorShape(tensor.shape), tf.as_dtype(tensor.dtype)
        if shape.rank is not None and shape.rank != self.rank:
            return False
        if self.last_dim is not None and shape.rank and shape[-1] is not None and shape[-1] != self.last_dim:
            return False
        return _KINDS[self.kind](dtype)

    def describe(self):
        return f"{self.kind} {self.layout or f'rank {self.rank}'}"


@dataclasses.dataclass(frozen=True)
class Crops:
    """A tuple of at least `minimum` crops, each matching `crop` (globals first)."""

    crop: Tensor
    minimum: int = 2

    def describe(self):
        return f"tuple of >= {self.minimum} x {self.crop.describe()}"


def describe(spec):
    """A readable one-line rendering of a batch spec."""
    if isinstance(spec, (Tensor, Crops)):
        return spec.describe()
    if isinstance(spec, dict):
        return "{" + ", ".join(f"{k!r}: {describe(v)}" for k, v in spec.items()) + "}"
    if isinstance(spec, (tuple, list)):
        return "(" + ", ".join(describe(v) for v in spec) + ")"
    return repr(spec)


def describe_batch(batch):
    """The received batch's structure with each tensor's dtype and shape."""
    def leaf(x):
        shape = getattr(x, "shape", None)
        dtype = getattr(x, "dtype", type(x).__name__)
        return f"{getattr(dtype, 'name', dtype)}{list(shape) if shape is not None else ''}"
    if isinstance(batch, dict):
        return "{" + ", ".join(f"{k!r}: {describe_batch(v)}" for k, v in batch.items()) + "}"
    if isinstance(batch, (tuple, list)):
        return "(" + ", ".join(describe_batch(v) for v in batch) + ")"
    return leaf(batch)


def _matches(spec, batch):
    if isinstance(spec, Tensor):
        return hasattr(batch, "shape") and hasattr(batch, "dtype") and spec.matches(batch)
    if isinstance(spec, Crops):
        return (isinstance(batch, (tuple, list)) and len(batch) >= spec.minimum
                and all(_matches(spec.crop, crop) for crop in batch))
    if isinstance(spec, dict):
        return isinstance(batch, dict) and set(batch) == set(spec) and all(_matches(spec[k], batch[k]) for k in spec)
    if isinstance(spec, (tuple, list)):
        return (isinstance(batch, (tuple, list)) and len(batch) == len(spec)
                and all(_matches(s, b) for s, b in zip(spec, batch)))
    raise ValueError(f"batch spec leaves must be Tensor or Crops, got {spec!r}")


def check_batch(objective, spec, batch):
    """Raises ValueError naming `objective` unless `batch` matches `spec` (None: anything)."""
    if spec is None:
        return
    if not _matches(spec, batch):
        raise ValueError(f"{objective}: the batch does not match its batch_spec. Expected "
                         f"{describe(spec)}; received {describe_batch(batch)}.")
    shapes = [tf.TensorShape(leaf.shape) for leaf in tf.nest.flatten(batch)]
    sizes = {int(shape[0]) for shape in shapes if shape.rank and shape[0] is not None}
    if len(sizes) > 1:
        raise ValueError(f"{objective}: every tensor of the batch must have the same batch size (axis 0), "
                         f"got sizes {sorted(sizes)}; received {describe_batch(batch)}.")
