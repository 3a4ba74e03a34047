"""The sliding window: bounded memory, scope semantics, and many threads at once."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd

from pyfunc_model.drift import DriftMonitor, DriftReference
from pyfunc_model.drift.specs import build_summary


def test_small_requests_fill_a_bounded_window(reference: DriftReference, fresh: pd.DataFrame) -> None:
    monitor = DriftMonitor(reference, window_size=50, min_batch=10)
    first = monitor.check(fresh.iloc[:3], np.full(3, 0.9))
    assert first.scope == "window" and not first.drifted and "warming up" in first.details["status"]
    for i in range(3, 200, 3):
        verdict = monitor.check(fresh.iloc[i : i + 3], np.full(3, 0.9))
        assert monitor.window_len <= 50
    assert monitor.window_len == 50 and verdict.scope == "window"
    assert verdict.details["n_rows"] >= 10
    assert monitor._ring.table.shape[0] == 50  # memory: fixed arrays of monitored values only


def test_batches_at_least_min_batch_skip_the_window(reference: DriftReference, fresh: pd.DataFrame) -> None:
    monitor = DriftMonitor(reference, window_size=100, min_batch=30)
    assert monitor.check(fresh.iloc[:30], None).scope == "batch"
    assert monitor.window_len == 0


def test_window_flags_a_shift_in_single_row_traffic(reference: DriftReference, fresh: pd.DataFrame) -> None:
    # a budget of 0.2 % per check keeps ~27 correlated window tests on new rows quiet
    monitor = DriftMonitor(reference, window_size=200, min_batch=30, false_alarm_budget=0.002)
    summary = build_summary(fresh, reference.lookups(), None)  # each row as if it came alone
    for i in range(len(fresh)):
        one = type(summary)(summary.table[i : i + 1], summary.tokens[i : i + 1])
        assert not monitor.check(fresh.iloc[i : i + 1], None, summary=one).drifted
    shifted = fresh.assign(price=fresh["price"] * 4)
    flagged = [monitor.check(shifted.iloc[i : i + 1], None).drifted for i in range(120)]
    assert any(flagged)
    assert flagged.index(True) < 100


def test_concurrent_checks_are_safe_and_bounded(reference: DriftReference, fresh: pd.DataFrame) -> None:
    monitor = DriftMonitor(reference, window_size=64, min_batch=8)
    errors: list[BaseException] = []
    sizes: list[int] = []
    start = threading.Barrier(12)

    def worker(seed: int) -> None:
        rng = np.random.default_rng(seed)
        start.wait()
        try:
            for _ in range(20):
                k = int(rng.integers(1, 4)) if seed % 4 else 40  # a few threads send batches
                i = int(rng.integers(0, len(fresh) - k))
                verdict = monitor.check(fresh.iloc[i : i + k], rng.random(k))
                assert verdict.scope in {"batch", "window"}
                sizes.append(monitor.window_len)
        except BaseException as exc:  # surfaced below; a thread must not swallow it
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert max(sizes) <= 64 and monitor.window_len == 64
