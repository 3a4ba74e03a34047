"""The sliding window: bounded memory, scope semantics, and many threads at once."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest

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
                rows = fresh.iloc[i : i + k]
                # half the threads summarise as predict does: small requests in part, the rest later
                summary = monitor.summarize_request(rows, k) if seed % 2 else None
                verdict = monitor.check(rows, rng.random(k), summary=summary)
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


def test_small_requests_summarised_in_part_get_the_verdicts_of_complete_summaries(
    reference: DriftReference, fresh: pd.DataFrame, fresh_conf: np.ndarray
) -> None:
    """A small request's costly values (price residuals, token counts) wait for the next window
    test; the verdicts are those of rows summarised on arrival, shift or no shift."""
    shifted = fresh.assign(price=fresh["price"] * 3)
    stream = pd.concat([fresh.iloc[:200], shifted.iloc[200:]], ignore_index=True)
    complete = DriftMonitor(reference, window_size=150, min_batch=30, false_alarm_budget=0.002)
    deferred = DriftMonitor(reference, window_size=150, min_batch=30, false_alarm_budget=0.002)
    seen = []
    for i in range(0, len(stream), 2):
        rows, conf = stream.iloc[i : i + 2], fresh_conf[i : i + 2]
        partial = deferred.summarize_request(rows, len(rows))
        assert not partial.complete and np.isnan(partial.col("price_residual")).all()
        assert np.isfinite(partial.col("title_chars")).all()  # what the row reasons read
        a = complete.check(rows, conf, summary=build_summary(rows, reference.lookups(), None))
        b = deferred.check(rows, conf, summary=partial)
        assert (a.drifted, a.scope, a.drifted_features) == (b.drifted, b.scope, b.drifted_features)
        assert b.score == pytest.approx(a.score, abs=1e-9)
        assert deferred.window_len == complete.window_len
        seen.append(b.drifted)
    assert sum(seen[100:]) > 10 * max(sum(seen[:100]), 1)  # the shift is found, and found the same


def test_a_partial_summary_without_its_rows_is_refused(reference: DriftReference, fresh: pd.DataFrame) -> None:
    monitor = DriftMonitor(reference, window_size=100, min_batch=30)
    partial = monitor.summarize_request(fresh.iloc[:1], 1)
    with pytest.raises(ValueError, match="prepared rows"):
        monitor.check(None, None, summary=partial)


def test_the_whole_window_is_tested_again_once_a_twentieth_of_it_is_new(
    reference: DriftReference, fresh: pd.DataFrame
) -> None:
    monitor = DriftMonitor(reference, window_size=200, min_batch=10, retest_every=2)
    tested: list[tuple[int, int]] = []
    decide = monitor._decide

    def counting(table: np.ndarray, *args: object, **kwargs: object) -> object:
        tested.append((table.shape[0], monitor._received))
        return decide(table, *args, **kwargs)

    monitor._decide = counting  # type: ignore[method-assign]
    for i in range(300):
        monitor.check(fresh.iloc[i : i + 1], None)
    full = [(rows, received) for rows, received in tested if received > 200]  # once the window is full
    whole = [received for rows, received in full if rows == 200]
    recent = [received for rows, received in full if rows == 40]  # its recent fifth: at every test
    assert np.diff(whole).min() >= 10 and len(whole) >= 9  # 200 rows: once 10 of them are new
    assert np.diff(recent).max() <= 2 and len(recent) >= 45
