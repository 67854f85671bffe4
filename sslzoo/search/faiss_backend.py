"""faiss-cpu backend: the index type chosen by size and memory, search parameters tuned to a recall.

Choice (`choose_factory`), on unit vectors with inner product:

- fewer than `EXACT_LIMIT` (10,000) vectors: "Flat", exact brute force;
- otherwise, when the graph fits the memory budget: "HNSW32" (vectors plus
  ~2*M int32 neighbours per vector), searched with the smallest `efSearch`
  that reaches `target_recall` on probe queries (`tune`: 200 of the vectors are held
  out of the index while tuning and used as queries, then added: unseen draws from
  the data's own distribution). If it cannot (data
  without structure, e.g. isotropic random directions: checked first on a
  20,000-vector sample, then on the full index), exact "Flat" is used instead:
  on such data brute force is both exact and faster than a graph at high efSearch.
  Flat is also kept when the tuned graph answers the probe queries slower than
  brute force did (measured, not assumed: on 2 cores that happens up to ~1e5);
- when it does not fit: "IVF{nlist},PQ{m}" (m = D/8 bytes per vector, nlist ~
  sqrt(N)), `nprobe` tuned the same way. PQ alone caps recall well below 0.95, so
  given `rerank_vectors` (the Index passes its memory-mapped `.npy` vectors) the
  top `RERANK_FACTOR * k` candidates are re-scored exactly.

Any faiss factory string overrides the choice (`factory="IVF1024,Flat"`).
HNSW cannot delete in place: removed ids are kept as tombstones and filtered
from over-fetched results until the owner rebuilds.
"""
import math
import time

import numpy as np

from sslzoo.search.backends import Backend, check_k, check_vectors, register_backend

EXACT_LIMIT = 10_000
HNSW_M = 32
TUNE_QUERIES = 200
FEASIBILITY_SAMPLE = 20_000
TUNE_MARGIN = 0.01  # probes aim this far above the target: 200 probes measure recall to about +-0.015
FEASIBLE_EF = 128
RERANK_FACTOR = 10


def _faiss():
    try:
        import faiss
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError("the faiss backend needs faiss-cpu: pip install faiss-cpu") from error
    return faiss


def estimate_bytes(factory, n, dim):
    """Rough resident size in bytes of `n` vectors of width `dim` in a factory-string index."""
    vectors = n * dim * 4
    if factory == "Flat":
        return vectors
    if factory.startswith("HNSW"):
        m = int(factory[4:].split(",")[0] or HNSW_M)
        return vectors + n * (2 * m * 4 + 16)
    if ",PQ" in factory:
        code = int(factory.split(",PQ")[1].split("x")[0])
        return n * (code + 8) + dim * 4 * _nlist(n)
    return vectors + n * 8


def _nlist(n):
    """IVF lists for n vectors: ~sqrt(n), a power of two, at least 16, with >= 39 points each.

    (More lists, e.g. 4 sqrt(n), scan less per probe but cost 4x more to train: with
    re-ranking a coarse quantizer of sqrt(n) lists already reaches the target recall.)
    """
    target = math.sqrt(max(n, 1))
    nlist = 2 ** int(round(math.log2(max(target, 16))))
    return int(max(16, min(nlist, max(16, n // 39))))


def _pq_bytes(dim):
    """PQ code size in bytes: D/8 (8 dimensions per 8-bit sub-quantizer) when it divides D."""
    for m in (dim // 8, dim // 4, dim // 2, 8, 4, 2, 1):
        if m >= 1 and dim % m == 0:
            return m
    return 1


def choose_factory(n, dim, memory_bytes=None):
    """The faiss factory string for `n` unit vectors of width `dim` under `memory_bytes`.

    Args:
      n: number of vectors to index.
      dim: vector width D.
      memory_bytes: budget for the index, or None (no limit).
    Returns:
      "Flat", "HNSW32" or "IVF{nlist},PQ{m}".
    """
    if n < EXACT_LIMIT:
        return "Flat"
    hnsw = f"HNSW{HNSW_M}"
    if memory_bytes is None or estimate_bytes(hnsw, n, dim) <= memory_bytes:
        return hnsw
    return f"IVF{_nlist(n)},PQ{_pq_bytes(dim)}"


def probe_rows(n, count=TUNE_QUERIES, seed=0):
    """Rows of the vectors held out as probe queries while tuning (sorted, distinct)."""
    return np.sort(np.random.default_rng(seed).choice(n, min(count, n), replace=False))


@register_backend("faiss")
class FaissBackend(Backend):
    """faiss index on unit vectors, inner product.

    Args:
      dim: vector width D.
      factory: faiss factory string, or None to choose by size and memory at first add.
      memory_bytes: memory budget for `choose_factory`.
      target_recall: recall@10 against exact that `tune` aims for (approximate types).
      threads: faiss OpenMP threads (None: faiss's default).
      search_params: fixed search parameters ({"efSearch": 128} / {"nprobe": 16}); no tuning.
      rerank_vectors: optional (vectors (N, D), ids (N,)) of everything added (may be a
        memory map): IVF-PQ candidates are re-scored exactly against them.
    Attributes:
      achieved_recall: probe recall@10 of the tuned setting; fallback: why "Flat" was used.
    """

    native_suffix = ".faiss"

    def __init__(self, dim, factory=None, memory_bytes=None, target_recall=0.95, threads=None,
                 search_params=None, rerank_vectors=None):
        super().__init__(dim)
        if factory is not None and not isinstance(factory, str):
            raise ValueError(f"`factory` must be a faiss factory string or None, got {factory!r}")
        self.factory = factory
        self.memory_bytes = memory_bytes
        self.target_recall = float(target_recall)
        self.search_params = dict(search_params or {})
        self._index = None
        self._dead = set()
        self.achieved_recall, self.fallback = None, None
        self.rerank_vectors = rerank_vectors
        if threads is not None:
            _faiss().omp_set_num_threads(int(threads))

    # ----------------------------------------------------------------- build
    def _create(self, vectors):
        faiss = _faiss()
        inner = faiss.index_factory(self.dim, self.factory, faiss.METRIC_INNER_PRODUCT)
        if not inner.is_trained:
            nlist = faiss.extract_index_ivf(inner).nlist
            if len(vectors) < nlist:
                raise ValueError(f"`vectors`: factory {self.factory!r} needs at least {nlist} vectors "
                                 f"to train, got {len(vectors)}")
            size = max(40 * nlist, min(64 * nlist, 100_000))  # faiss asks >= 39 per list
            sample = vectors[np.random.default_rng(0).permutation(len(vectors))[:size]]
            if ",PQ" in self.factory:  # bound the sub-quantizers' k-means (faiss default: 65,536 points, 25 rounds)
                clustering = faiss.downcast_index(faiss.extract_index_ivf(inner)).pq.cp
                clustering.max_points_per_centroid, clustering.niter = 64, 15
            inner.train(sample)
        is_ivf = self.factory.startswith("IVF")
        self._index = inner if is_ivf else faiss.IndexIDMap2(inner)

    def _feasible(self, vectors):
        """Whether HNSW looks able to reach the target recall at full size, judged on a sample.

        On FEASIBILITY_SAMPLE vectors the graph must reach the target with efSearch <=
        FEASIBLE_EF: recall falls as N grows at a fixed efSearch, so a sample that already
        needs more leaves too little headroom below the largest setting tried (1024).
        """
        if len(vectors) <= FEASIBILITY_SAMPLE:
            return True
        rows = np.sort(np.random.default_rng(1).choice(len(vectors), FEASIBILITY_SAMPLE, replace=False))
        trial = FaissBackend(self.dim, factory=self.factory, target_recall=self.target_recall)
        trial.add(vectors[rows], rows)
        return (trial.achieved_recall >= self.target_recall
                and trial.search_params.get("efSearch", 0) <= FEASIBLE_EF)

    def add(self, vectors, ids):
        vectors = check_vectors(vectors, self.dim)
        ids = np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))
        if len(ids) != len(vectors):
            raise ValueError(f"`ids` must have {len(vectors)} entries, got {len(ids)}")
        if len(vectors) == 0:
            return
        fresh = self._index is None
        if fresh:
            automatic = self.factory is None
            self.factory = self.factory or choose_factory(len(vectors), self.dim, self.memory_bytes)
            if automatic and self.factory.startswith("HNSW") and not self._feasible(vectors):
                self.factory, self.fallback = "Flat", "HNSW needs efSearch > 128 on a 20k sample"
            self._create(vectors)
        tuning = fresh and not self.search_params and not self.factory == "Flat"
        if tuning and len(vectors) > 2 * TUNE_QUERIES:
            # Probes held out of the index while tuning: a stored vector would find its own
            # graph neighbours (optimistic); these are unseen draws from the same data.
            held = probe_rows(len(vectors))
            kept = np.ones(len(vectors), bool)
            kept[held] = False
            self._index.add_with_ids(vectors[kept], ids[kept])
            self.tune(vectors[kept], ids[kept], vectors[held])
            self._index.add_with_ids(vectors[held], ids[held])
        else:
            self._index.add_with_ids(vectors, ids)
            if tuning:
                self.tune(vectors, ids, vectors[probe_rows(len(vectors))])
        self._dead.difference_update(ids.tolist())
        if tuning:
            reason = None
            if automatic and self.factory.startswith("HNSW"):
                if self.achieved_recall < self.target_recall:
                    reason = "HNSW misses the target recall"
                elif self.search_seconds > self.exact_seconds:
                    reason = "exact search is faster at this size"
            if reason:
                self.factory, self.fallback, self.search_params = "Flat", reason, {}
                self._index = None
                self._create(vectors)
                self._index.add_with_ids(vectors, ids)
                self.achieved_recall = 1.0
        self._apply_params()

    # ---------------------------------------------------------------- tuning
    def _param_name(self):
        if self.factory.startswith("HNSW"):
            return "efSearch", [16, 32, 64, 128, 256, 512, 1024]
        if self.factory.startswith("IVF"):
            nlist = _faiss().extract_index_ivf(self._index).nlist
            return "nprobe", [p for p in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512) if p < nlist] + [nlist]
        return None, []

    def _apply_params(self):
        if self._index is None:
            return
        faiss = _faiss()
        space = faiss.ParameterSpace()
        for key, value in self.search_params.items():
            space.set_index_parameter(self._index, key, value)

    def tune(self, vectors, ids, queries, k=10):
        """Smallest efSearch / nprobe whose recall@k on `queries` reaches `target_recall` + TUNE_MARGIN.

        Args:
          vectors: float32 (N, D), the vectors in the index, stored under `ids` (N,).
          queries: float32 (Q, D) probe queries (held-out vectors of the same data).
        Exact neighbours come from brute force over `vectors`; its time is kept as
        `exact_seconds` beside the tuned setting's `search_seconds` (same queries).
        """
        key, grid = self._param_name()
        k = min(k, len(vectors))
        if key is None or k < 1:
            return self.search_params
        started = time.perf_counter()
        truth = ids[np.argpartition(-(queries @ vectors.T), k - 1, axis=1)[:, :k]]
        self.exact_seconds = time.perf_counter() - started
        for value in grid:
            self.search_params = {key: value}
            self._apply_params()
            started = time.perf_counter()
            _, found = self.search(queries, k)
            self.search_seconds = time.perf_counter() - started
            recall = np.mean([len(set(f) & set(t)) / k for f, t in zip(found, truth)])
            self.achieved_recall = float(recall)
            if recall >= min(self.target_recall + TUNE_MARGIN, 1.0):
                break
        return self.search_params

    # ---------------------------------------------------------------- search
    def search(self, queries, k):
        queries = check_vectors(queries, self.dim, "queries")
        k = check_k(k)
        n = len(self)
        if self._index is None or n == 0:
            return np.zeros((len(queries), 0), np.float32), np.zeros((len(queries), 0), np.int64)
        kk = min(k, n)
        rerank = self.rerank_vectors is not None and ",PQ" in (self.factory or "")
        want = kk * RERANK_FACTOR if rerank else kk
        fetch = min(want + len(self._dead), self._index.ntotal)
        scores, ids = self._index.search(queries, fetch)
        if self._dead:
            dead = np.isin(ids, np.fromiter(self._dead, np.int64))
            ids = np.where(dead, -1, ids)
            scores = np.where(dead, -np.inf, scores)
        if rerank:
            scores = self._exact_scores(queries, ids)
        order = np.argsort(-scores, axis=1, kind="stable")
        ids, scores = np.take_along_axis(ids, order, 1), np.take_along_axis(scores, order, 1)
        return scores[:, :kk].astype(np.float32), ids[:, :kk].astype(np.int64)

    def _exact_scores(self, queries, ids):
        """Exact inner products of queries (Q, D) with candidate ids (Q, C); -inf for missing ids."""
        vectors, stored = self.rerank_vectors
        if getattr(self, "_rerank_key", None) is not stored:
            self._rerank_order = np.argsort(stored, kind="stable")
            self._rerank_sorted = np.asarray(stored)[self._rerank_order]
            self._rerank_key = stored
        flat = ids.reshape(-1)
        where = np.clip(np.searchsorted(self._rerank_sorted, flat), 0, len(stored) - 1)
        found = (self._rerank_sorted[where] == flat) & (flat >= 0)
        rows = self._rerank_order[where]
        unique, inverse = np.unique(rows[found], return_inverse=True)
        candidates = np.asarray(vectors[unique], np.float32)  # sorted reads: friendly to a memory map
        scores = np.full(flat.shape, -np.inf, np.float32)
        query_rows = np.repeat(np.arange(len(queries)), ids.shape[1])[found]
        scores[found] = np.einsum("ij,ij->i", queries[query_rows], candidates[inverse])
        return scores.reshape(ids.shape)

    def remove(self, ids):
        if self._index is None:
            return
        ids = np.ascontiguousarray(np.asarray(ids, dtype=np.int64).reshape(-1))
        try:
            self._index.remove_ids(_faiss().IDSelectorBatch(ids))
        except RuntimeError:  # HNSW: no in-place delete
            self._dead.update(ids.tolist())

    def __len__(self):
        return 0 if self._index is None else self._index.ntotal - len(self._dead)

    def describe(self):
        return {"backend": self.name, "factory": self.factory, "search_params": self.search_params,
                "target_recall": self.target_recall, "achieved_recall": self.achieved_recall,
                "fallback": self.fallback}

    @property
    def nbytes(self):
        return 0 if self._index is None else len(_faiss().serialize_index(self._index))

    # ------------------------------------------------------------ native file
    def save(self, path):
        if self._index is not None and not self._dead:
            _faiss().write_index(self._index, str(path))

    def load(self, path, vectors, ids):
        import os

        faiss = _faiss()
        if path and os.path.isfile(path):
            index = faiss.read_index(str(path))
            if index.ntotal == len(ids) and index.d == self.dim:
                self._index = index
                self._apply_params()
                return
        self.add(vectors, ids)
