"""Vector stores behind one small interface, and the exact numpy store.

A backend holds unit vectors (N, D) float32 under int64 ids and answers
inner-product top-k queries; on unit vectors that is cosine similarity. The
`Index` owns metadata and the canonical copy of the vectors (`.npy` files), so a
backend only has to be a fast, rebuildable view of them. Registered backends:

- "numpy": exact, brute force (this file);
- "faiss": faiss-cpu, index type chosen by size and memory (`faiss_backend`);
- "milvus": pymilvus with Milvus Lite or a cluster URI (`milvus_backend`).
"""
import numpy as np

_BACKENDS = {}


def register_backend(name):
    """Class decorator: registers a `Backend` subclass under `name`."""

    def decorate(cls):
        _BACKENDS[name] = cls
        cls.name = name
        return cls

    return decorate


def available_backends():
    """Names of the registered backends (importing their modules registers them)."""
    _import_optional()
    return tuple(_BACKENDS)


def _import_optional():
    # Import for the registration side effect; the modules import their libraries lazily.
    from sslzoo.search import faiss_backend, milvus_backend  # noqa: F401


def make_backend(name, dim, **options):
    """A new, empty backend `name` for `dim`-dimensional vectors.

    Args:
      name: "numpy", "faiss" or "milvus".
      dim: vector width D.
      **options: backend-specific settings (e.g. faiss `factory`, milvus `uri`).
    """
    _import_optional()
    if name not in _BACKENDS:
        raise ValueError(f"`backend` must be one of {tuple(_BACKENDS)}, got {name!r}")
    return _BACKENDS[name](dim, **options)


def check_vectors(vectors, dim, argument="vectors"):
    """`vectors` as C-contiguous float32 (N, dim); ValueError naming `argument` otherwise."""
    array = np.asarray(vectors)
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != dim:
        raise ValueError(f"`{argument}` must have shape (N, {dim}), got {np.shape(vectors)}")
    if not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"`{argument}` must be numeric, got dtype {array.dtype}")
    array = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(array).all():
        raise ValueError(f"`{argument}` must be finite (no NaN or inf)")
    return array


def normalize(vectors):
    """Rows scaled to unit L2 norm (zero rows stay zero): float32 (N, D) -> (N, D)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class Backend:
    """Interface: unit vectors under int64 ids, inner-product top-k.

    Subclasses implement `add`, `search`, `remove`, `__len__`, and optionally
    `save`/`load` of a native file (a cache beside the Index's `.npy` vectors).
    """

    name = None
    native_suffix = None  # file suffix of the native index, or None

    def __init__(self, dim):
        if not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ValueError(f"`dim` must be a positive int, got {dim!r}")
        self.dim = int(dim)

    def add(self, vectors, ids):
        """Adds float32 (N, D) unit `vectors` under int64 `ids` (N,)."""
        raise NotImplementedError

    def search(self, queries, k):
        """float32 (Q, D) -> (scores float32 (Q, k'), ids int64 (Q, k')), best first.

        k' = min(k, len(self)); ids of missing results are -1.
        """
        raise NotImplementedError

    def remove(self, ids):
        """Drops the vectors under `ids` (unknown ids are ignored)."""
        raise NotImplementedError

    def __len__(self):
        raise NotImplementedError

    def describe(self):
        """JSON-ready settings of this backend (kept in the index manifest)."""
        return {"backend": self.name}

    def save(self, path):
        """Writes the native index to `path` (only when `native_suffix` is set)."""

    def load(self, path, vectors, ids):
        """Restores from the native file `path` if usable, else re-adds `vectors`/`ids`."""
        self.add(vectors, ids)

    def close(self):
        """Releases connections or files (no-op by default)."""


def check_k(k):
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ValueError(f"`k` must be a positive int, got {k!r}")
    return int(k)


def top_k(scores, k):
    """Row-wise top-k of float32 (Q, N) scores -> (values (Q, k), columns (Q, k)), best first."""
    k = min(k, scores.shape[1])
    if k == 0:
        return np.zeros((scores.shape[0], 0), np.float32), np.zeros((scores.shape[0], 0), np.int64)
    if k < scores.shape[1]:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(scores.shape[1]), scores.shape).copy()
    values = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-values, axis=1, kind="stable")
    return np.take_along_axis(values, order, axis=1), np.take_along_axis(part, order, axis=1)


@register_backend("numpy")
class NumpyBackend(Backend):
    """Exact search: one matrix product per query batch, (Q, D) x (D, N)."""

    def __init__(self, dim, chunk=65536):
        super().__init__(dim)
        self.chunk = int(chunk)
        self._vectors = np.zeros((0, self.dim), np.float32)
        self._ids = np.zeros((0,), np.int64)

    def add(self, vectors, ids):
        vectors = check_vectors(vectors, self.dim)
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if len(ids) != len(vectors):
            raise ValueError(f"`ids` must have {len(vectors)} entries, got {len(ids)}")
        self._vectors = np.concatenate([self._vectors, vectors])
        self._ids = np.concatenate([self._ids, ids])

    def search(self, queries, k):
        queries = check_vectors(queries, self.dim, "queries")
        k = check_k(k)
        kk = min(k, len(self._ids))
        best_scores = np.full((len(queries), kk), -np.inf, np.float32)
        best_cols = np.zeros((len(queries), kk), np.int64)
        for start in range(0, len(self._ids), self.chunk):
            block = self._vectors[start:start + self.chunk]
            scores, cols = top_k(queries @ block.T, kk)
            merged_scores = np.concatenate([best_scores, scores], axis=1)
            merged_cols = np.concatenate([best_cols, cols + start], axis=1)
            best_scores, order = top_k(merged_scores, kk)
            best_cols = np.take_along_axis(merged_cols, order, axis=1)
        ids = self._ids[best_cols] if kk else best_cols
        return best_scores, ids

    def remove(self, ids):
        keep = ~np.isin(self._ids, np.asarray(ids, dtype=np.int64))
        self._vectors, self._ids = self._vectors[keep], self._ids[keep]

    def __len__(self):
        return len(self._ids)

    @property
    def nbytes(self):
        return self._vectors.nbytes + self._ids.nbytes
