"""A request on several threads answers exactly what it answers on one, and the thread count is the operator's."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

from features.prepared import prepare_input
from pyfunc_model import parallel
from pyfunc_model.model import ProductClassifierModel
from tests.model.test_fast_path import real_like
from tests.small_model import SmallModel


def test_thread_count_reads_its_variable_then_openmp_s() -> None:
    assert parallel.thread_count({parallel.ENV_THREADS: " 3 ", "OMP_NUM_THREADS": "8"}) == 3
    assert parallel.thread_count({"OMP_NUM_THREADS": "1"}) == 1
    assert parallel.thread_count({}) >= 1
    for name in (parallel.ENV_THREADS, "OMP_NUM_THREADS"):
        for bad in ("0", "-2", "many"):
            with pytest.raises(ValueError, match=name):
                parallel.thread_count({name: bad})


def test_small_work_stays_on_the_calling_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(parallel.ENV_THREADS, "2")
    where: list[str] = []

    def record(*_: object) -> np.ndarray:
        where.append(threading.current_thread().name)
        return np.zeros((1, 1))

    assert parallel.beside(parallel.SUMMARY_BESIDE_ROWS - 1, record)() is not None
    parallel.by_row_chunks(record, {"title": np.zeros(parallel.FEATURE_CHUNK_ROWS - 1)})
    assert where == [threading.current_thread().name] * 2
    parallel.beside(parallel.SUMMARY_BESIDE_ROWS, record)()
    assert where[-1].startswith("product-classifier")


def test_errors_of_work_beside_reach_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(parallel.ENV_THREADS, "2")

    def fail() -> None:
        raise KeyError("price")

    wait = parallel.beside(parallel.SUMMARY_BESIDE_ROWS, fail)
    with pytest.raises(KeyError, match="price"):
        wait()


@pytest.mark.parametrize(("threads", "n", "chunks"), [("3", 2055, 2), ("8", 4096, 4), ("2", 10_000, 2)])
def test_row_chunks_keep_rows_in_order(monkeypatch: pytest.MonkeyPatch, threads: str, n: int, chunks: int) -> None:
    """As many chunks as threads, none under half the chunking threshold; rows back in order."""
    assert n >= parallel.FEATURE_CHUNK_ROWS
    monkeypatch.setenv(parallel.ENV_THREADS, threads)
    sizes: list[int] = []

    def double(c: dict[str, np.ndarray]) -> np.ndarray:
        sizes.append(len(c["a"]))
        return np.column_stack([c["a"], c["a"] * 2])

    out = parallel.by_row_chunks(double, {"a": np.arange(n, dtype=float)})
    assert out.shape == (n, 2)
    assert np.array_equal(out[:, 0], np.arange(n)) and np.array_equal(out[:, 1], 2 * np.arange(n))
    assert len(sizes) == chunks and sum(sizes) == n and min(sizes) >= parallel.FEATURE_CHUNK_ROWS // 2


@pytest.mark.slow
def test_predict_on_two_threads_equals_one(logged_model: SmallModel, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch big enough for both overlaps (features in chunks, summary beside): same frame, same verdict."""
    batch = real_like(logged_model, parallel.FEATURE_CHUNK_ROWS + 500, seed=3)
    outs: list[pd.DataFrame] = []
    features: list[np.ndarray] = []
    for threads in ("1", "2"):
        monkeypatch.setenv(parallel.ENV_THREADS, threads)
        model = ProductClassifierModel()
        model.setup(logged_model.bundle)
        outs.append(model.predict(None, batch))
        columns = prepare_input(batch).columns
        features.append(parallel.by_row_chunks(model.features.transform_prepared, columns))
    assert np.array_equal(features[0], features[1], equal_nan=True)
    pd.testing.assert_frame_equal(outs[0], outs[1])
    assert len(outs[1]) == len(batch)
