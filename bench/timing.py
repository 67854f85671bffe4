"""Shared measuring helpers of the benchmark programs (imported from bench/ scripts)."""
import os
import statistics
import time


def folder_megabytes(path):
    """Total size of the files under `path` (or of the file), in MB."""
    if os.path.isfile(path):
        return os.path.getsize(path) / 1e6
    return sum(os.path.getsize(os.path.join(root, n)) for root, _, names in os.walk(path) for n in names) / 1e6


def median_ms(call, warmup, repeats):
    """Median wall time of `call()` in milliseconds over `repeats` calls, after `warmup` untimed ones."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)
