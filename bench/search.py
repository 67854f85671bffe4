"""Vector-search backends on 256-d unit vectors: recall@10 against exact, queries/s, build time, memory.

    python bench/search.py                          # 1e4 and 1e5, random and clustered
    python bench/search.py --sizes=10000,100000,1000000 --out=bench/SEARCH_RESULTS.md

Data (float32, L2-normalised, seed fixed):
- "random": isotropic Gaussian directions, the hardest case for approximate search;
- "clustered" (real-like): 1,000 cluster centres, each point = centre + noise in a
  32-d subspace + small isotropic noise, the uneven density of learned embeddings.
Queries: 1,000 fresh draws from the same distribution (not in the set).

Methods:
- faiss: `sslzoo.search.faiss_backend.FaissBackend` with its automatic choice (Flat under
  10k, HNSW32 above, Flat again when HNSW cannot reach the target) and its search
  parameter tuned to recall 0.95 on probe queries;
- faiss IVF-PQ: the memory-short choice (`memory_bytes` = 1/4 of the raw vectors), with
  exact re-ranking of 10k candidates read from the memory-mapped .npy (as an Index does);
- usearch: HNSW (connectivity 16, expansion_add 64), expansion_search raised until
  recall >= 0.95 on 200 held-out vectors, exactly as FaissBackend tunes;
- numpy: exact, chunked matrix product (the ground truth's method, timed separately).
Memory: bytes of the serialised index (faiss, usearch's `memory_usage`) or the arrays (numpy).
"""
import argparse
import json
import os
import sys
import time

import numpy as np

DIM = 256
QUERIES = 1000
K = 10


def unit(x):
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def make_data(kind, n, seed):
    rng = np.random.default_rng(seed)
    if kind == "random":
        return unit(rng.standard_normal((n, DIM), dtype=np.float32))
    centres = rng.standard_normal((1000, DIM), dtype=np.float32)
    basis = rng.standard_normal((32, DIM), dtype=np.float32) / np.sqrt(32)
    out = np.empty((n, DIM), np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        member = rng.integers(0, 1000, m)
        low_rank = rng.standard_normal((m, 32), dtype=np.float32) @ basis
        out[start:start + m] = centres[member] + 0.8 * low_rank + 0.3 * rng.standard_normal((m, DIM), dtype=np.float32)
    return unit(out)


def data_and_queries(kind, n):
    """Base (n, 256) and queries (1000, 256) of one distribution (same centres for clustered)."""
    both = make_data(kind, n + QUERIES, seed=0)
    return both[:n], both[n:]


def exact_top_k(base, queries, k=K, chunk=100_000):
    best_s = np.full((len(queries), k), -np.inf, np.float32)
    best_i = np.zeros((len(queries), k), np.int64)
    for start in range(0, len(base), chunk):
        scores = queries @ base[start:start + chunk].T
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        s = np.concatenate([best_s, np.take_along_axis(scores, part, 1)], axis=1)
        i = np.concatenate([best_i, part + start], axis=1)
        order = np.argsort(-s, axis=1)[:, :k]
        best_s, best_i = np.take_along_axis(s, order, 1), np.take_along_axis(i, order, 1)
    return best_i


def recall(found, truth):
    return float(np.mean([len(set(f[:K]) & set(t)) / K for f, t in zip(found, truth)]))


def timed_search(search, queries, repeats=1):
    best = None
    for _ in range(repeats):
        started = time.perf_counter()
        found = search(queries)
        elapsed = time.perf_counter() - started
        best = elapsed if best is None else min(best, elapsed)
    return found, len(queries) / best


def bench_numpy(base, queries, truth):
    from sslzoo.search.backends import NumpyBackend

    started = time.perf_counter()
    backend = NumpyBackend(DIM)
    backend.add(base, np.arange(len(base)))
    build = time.perf_counter() - started
    found, qps = timed_search(lambda q: backend.search(q, K)[1], queries)
    return {"method": "numpy exact", "settings": "brute force", "build_s": build, "qps": qps,
            "recall": recall(found, truth), "memory_mb": backend.nbytes / 2**20}


def bench_faiss(base, queries, truth, memory_bytes=None, label="faiss (auto)"):
    from sslzoo.search.faiss_backend import FaissBackend

    rerank = None
    if memory_bytes is not None:  # as an Index does: re-rank from the memory-mapped .npy on disk
        path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "sslzoo_bench_vectors.npy")
        np.save(path, base)
        rerank = (np.load(path, mmap_mode="r"), np.arange(len(base)))
    started = time.perf_counter()
    backend = FaissBackend(DIM, memory_bytes=memory_bytes, rerank_vectors=rerank)
    backend.add(base, np.arange(len(base)))
    build = time.perf_counter() - started
    found, qps = timed_search(lambda q: backend.search(q, K)[1], queries)
    params = ",".join(f"{k}={v}" for k, v in backend.search_params.items())
    settings = backend.factory + (f" {params}" if params else "") + (" +exact rerank" if rerank else "")
    if backend.fallback:
        settings += f" ({backend.fallback})"
    return {"method": label, "settings": settings, "build_s": build,
            "qps": qps, "recall": recall(found, truth), "memory_mb": backend.nbytes / 2**20}


def bench_usearch(base, queries, truth, target=0.95, threads=2):
    from usearch.index import Index

    from sslzoo.search.faiss_backend import probe_rows

    started = time.perf_counter()
    index = Index(ndim=DIM, metric="ip", dtype="f32", connectivity=16, expansion_add=64)
    held = probe_rows(len(base))  # held out while tuning, then added: as FaissBackend.add does
    kept = np.setdiff1d(np.arange(len(base)), held)
    index.add(kept, base[kept], threads=threads)
    probe_truth = kept[exact_top_k(base[kept], base[held])]
    for expansion in (16, 32, 64, 128, 256, 512, 1024):
        index.expansion_search = expansion
        if recall(index.search(base[held], K, threads=threads).keys, probe_truth) >= target + 0.01:  # as faiss
            break
    index.add(held, base[held], threads=threads)
    build = time.perf_counter() - started
    found, qps = timed_search(lambda q: index.search(q, K, threads=threads).keys, queries)
    return {"method": "usearch", "settings": f"HNSW M=16 ef_add=64 ef_search={index.expansion_search}",
            "build_s": build, "qps": qps, "recall": recall(found, truth), "memory_mb": index.memory_usage / 2**20}


def table(rows):
    lines = ["| data | N | method | settings | recall@10 | queries/s | build s | memory MB |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['data']} | {r['n']:.0e} | {r['method']} | {r['settings']} | {r['recall']:.3f} | "
                     f"{r['qps']:,.0f} | {r['build_s']:.1f} | {r['memory_mb']:.0f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--data", default="random,clustered")
    parser.add_argument("--methods", default="numpy,faiss,faiss_pq,usearch")
    parser.add_argument("--json", default=None, help="append result rows to this JSON-lines file")
    parser.add_argument("--slow_max_random", type=int, default=100_000,
                        help="skip usearch and faiss IVF-PQ on random data above this size (graph build and "
                             "PQ training dominate the run, and neither reaches the target there)")
    args = parser.parse_args()
    rows = []
    for n in [int(float(s)) for s in args.sizes.split(",")]:
        for kind in args.data.split(","):
            base, queries = data_and_queries(kind, n)
            truth = exact_top_k(base, queries)
            for method in args.methods.split(","):
                if method == "faiss_pq" and n < 100_000:
                    continue  # memory is never short at this size
                if method in ("usearch", "faiss_pq") and kind == "random" and n > args.slow_max_random:
                    continue
                if method == "numpy":
                    row = bench_numpy(base, queries, truth)
                elif method == "faiss":
                    row = bench_faiss(base, queries, truth)
                elif method == "faiss_pq":
                    row = bench_faiss(base, queries, truth, memory_bytes=base.nbytes // 4, label="faiss (memory 1/4)")
                else:
                    row = bench_usearch(base, queries, truth)
                row.update(data=kind, n=n)
                rows.append(row)
                print(json.dumps(row), flush=True)
                if args.json:
                    with open(args.json, "a", encoding="utf-8") as f:
                        f.write(json.dumps(row) + "\n")
            del base, queries, truth
    print(table(rows))
    print(f"cpus: {os.cpu_count()}, python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()
