"""One request on more than one core: the drift summary beside the model, a large batch's features in row chunks.

LightGBM already spreads a large batch's trees over the process's cores (OpenMP). The feature code
and the drift summary are numpy with Python between the calls; numpy releases the GIL inside its
array operations, so a second thread overlaps much of them: on amazon_in, 10,000 distinct titles'
features and summary took 230-255 ms on two threads against 335-345 ms on one, 1,000 rows 42-49
against 65-68 ms (2 cores). Small requests stay on the calling thread, where a hand-off costs more
than it saves.

How many threads: :data:`ENV_THREADS` when set, else ``OMP_NUM_THREADS`` (the cap LightGBM and
every OpenMP library here obey; Spark sets it in its Python workers unless the user does), else the
cores this process may run on (in a container with a CPU quota below its cores, set it to the
quota). 1 turns the overlap off. Results do not depend on it: the same rows
give the same numbers to the last bit on any number of threads (tested).
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

import numpy as np

T = TypeVar("T")

ENV_THREADS = "PRODUCT_CLASSIFIER_THREADS"
#: From this many rows the drift summary runs beside the features and the booster.
SUMMARY_BESIDE_ROWS = 100
#: From this many rows the features are computed in one chunk of rows per thread.
FEATURE_CHUNK_ROWS = 2048

_lock = threading.Lock()
_pool: tuple[int, int, ThreadPoolExecutor] | None = None  # (pid, threads, pool)


def thread_count(environ: Mapping[str, str] | None = None) -> int:
    """Threads one request may use (>= 1): see the module docstring; a bad value raises, naming the variable."""
    env = os.environ if environ is None else environ
    for name in (ENV_THREADS, "OMP_NUM_THREADS"):
        text = env.get(name, "").strip()
        if not text:
            continue
        try:
            count = int(text)
        except ValueError:
            count = 0
        if count < 1:
            raise ValueError(f"{name} must be an integer >= 1 (threads per request; 1: one thread), got {text!r}")
        return count
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _executor() -> tuple[ThreadPoolExecutor | None, int]:
    """The process's pool (None on one thread) and the thread count it was made for: as many
    workers as threads, since the drift summary and all but the first feature chunk may wait in it
    at once. Made on first use in each process: a pool made before a fork (Spark's Python daemon,
    gunicorn) has no threads in the child."""
    global _pool
    threads = thread_count()
    if threads < 2:
        return None, threads
    with _lock:
        if _pool is None or _pool[0] != os.getpid() or _pool[1] != threads:
            _pool = (os.getpid(), threads, ThreadPoolExecutor(threads, thread_name_prefix="product-classifier"))
        return _pool[2], threads


def beside(rows: int, fn: Callable[..., T], *args: object) -> Callable[[], T]:
    """Start ``fn(*args)`` on another thread when the request has :data:`SUMMARY_BESIDE_ROWS` rows
    or more (else run it now); returns what waits for its result (and re-raises its error)."""
    pool = _executor()[0] if rows >= SUMMARY_BESIDE_ROWS else None
    if pool is None:
        value = fn(*args)
        return lambda: value
    future: Future[T] = pool.submit(fn, *args)
    return future.result


Columns = Mapping[str, np.ndarray]


def by_row_chunks(fn: Callable[[Columns], np.ndarray], columns: Columns) -> np.ndarray:
    """``fn(columns)`` for a function of each row alone, computed in one chunk of rows per thread
    from :data:`FEATURE_CHUNK_ROWS` rows, chunks of at least half that (the calling thread takes
    the first chunk)."""
    n = len(next(iter(columns.values()))) if columns else 0
    pool, threads = _executor() if n >= FEATURE_CHUNK_ROWS else (None, 1)
    if pool is None:
        return fn(columns)
    parts = max(1, min(threads, n // (FEATURE_CHUNK_ROWS // 2)))  # chunks of >= 1,024 rows
    edges = np.linspace(0, n, parts + 1).round().astype(int)
    chunks = [{k: v[a:b] for k, v in columns.items()} for a, b in itertools.pairwise(edges)]
    others = [pool.submit(fn, chunk) for chunk in chunks[1:]]
    first = fn(chunks[0])
    return np.vstack([first, *(f.result() for f in others)])
