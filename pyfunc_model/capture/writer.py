"""``InferenceCapture``: keeps answered requests in a bounded buffer; a background thread writes them.

``record`` (called once per ``predict``) only appends references under a lock: no copy, no
conversion, no I/O. The writer thread wakes every ``flush_seconds`` (or when half the buffer is
used), turns the held requests into one Parquet file per day and writes it. A full buffer drops
the new request's rows and counts them; a failed write is retried under the same file name (no
duplicate), the rows staying in the buffer until it fills.

Stopping: uvicorn (``mlflow models serve``) drains in-flight requests on SIGTERM and then re-raises
SIGTERM with the default action, which kills the worker without ``atexit``. So on SIGTERM the
capture (see :mod:`pyfunc_model.capture.exit`) writes what it holds, then switches to *draining*:
each request answered after that waits (at most ``DRAIN_WAIT_S``) until its rows are written
before its answer leaves. ``atexit`` writes whatever is left on a normal exit.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from collections import deque
from typing import Any

import pandas as pd

from pyfunc_model.capture.rows import (
    MODEL_NAME,
    MODEL_VERSION,
    RUN_ID,
    WORKER,
    Request,
    day_of,
    request_table,
    to_parquet,
)
from pyfunc_model.capture.settings import CaptureSettings
from pyfunc_model.capture.store import CaptureStore
from pyfunc_model.observability.logs import FailureReporter, log_event

#: Longest a request answered during shutdown waits for its rows to be written.
DRAIN_WAIT_S = 10.0
#: Write attempts of one file before its rows are given up (counted as dropped).
MAX_ATTEMPTS = 5


class InferenceCapture:
    """Captures answered requests of one loaded model to ``store``."""

    def __init__(
        self, settings: CaptureSettings, store: CaptureStore, identity: dict[str, str], metrics: Any = None
    ) -> None:
        self.settings, self.store, self.metrics = settings, store, metrics
        version = identity.get("version") or (f"run-{identity['run_id']}" if identity.get("run_id") else "unknown")
        self.meta = {
            WORKER: f"{socket.gethostname()}:{os.getpid()}",
            MODEL_NAME: identity.get("registered_model_name"),
            MODEL_VERSION: version,
            RUN_ID: identity.get("run_id"),
        }
        self._pending: deque[Request] = deque()
        self._held_rows = 0  # rows in _pending and in the batch being written
        self._cond = threading.Condition()
        self._recorded = 0  # sequence of the last request recorded
        self._written = 0  # every request up to this sequence is written or given up
        self._draining = False
        self._flush_asked = False
        self._closed = False
        self._files = 0
        self.rows_written = 0
        self.rows_dropped: dict[str, int] = {"buffer_full": 0, "write_failed": 0}
        self._failures = FailureReporter()
        self._thread = threading.Thread(target=self._run, name="product-classifier-capture", daemon=True)
        self._thread.start()

    # ---- request side ----------------------------------------------------------------------
    def record(self, model_input: pd.DataFrame, output: pd.DataFrame) -> None:
        """Hold this request's rows for the writer (or drop and count them when the buffer is full)."""
        if self.settings.sample < 1.0 and random.random() >= self.settings.sample:
            return
        n = len(output)
        request = Request(uuid.uuid4().hex, time.time(), model_input, output)
        with self._cond:
            if self._closed or self._held_rows + n > self.settings.buffer_rows:
                self._dropped("buffer_full", n)
                return
            self._pending.append(request)
            self._held_rows += n
            self._recorded += 1
            seq = self._recorded
            if self._draining or self._held_rows * 2 >= self.settings.buffer_rows:
                self._flush_asked = True
                self._cond.notify_all()
            if not self._draining:
                return
            # shutting down: the answer leaves only once its rows are written (the worker dies right after)
            self._cond.wait_for(lambda: self._written >= seq or not self._thread.is_alive(), DRAIN_WAIT_S)

    # ---- shutdown side ---------------------------------------------------------------------
    def flush(self, timeout: float = DRAIN_WAIT_S) -> bool:
        """Write everything recorded so far; True when done within ``timeout``."""
        with self._cond:
            seq = self._recorded
            self._flush_asked = True
            self._cond.notify_all()
            return self._cond.wait_for(lambda: self._written >= seq or not self._thread.is_alive(), timeout)

    def drain(self, timeout: float = DRAIN_WAIT_S) -> bool:
        """Flush, and from now on let each request wait until its rows are written."""
        with self._cond:
            self._draining = True
        return self.flush(timeout)

    def close(self, timeout: float = DRAIN_WAIT_S) -> bool:
        """Flush and stop the writer; later requests are not captured."""
        done = self.drain(timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)
        return done

    @property
    def buffered_rows(self) -> int:
        return self._held_rows

    # ---- writer thread ---------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._closed or self._flush_asked, self.settings.flush_seconds)
                self._flush_asked = False
                batch = list(self._pending)
                self._pending.clear()
                last = self._recorded
                stop = self._closed and not batch
            if batch:
                self._write(batch)
            with self._cond:
                self._written = max(self._written, last)
                self._cond.notify_all()
            if stop:
                return

    def _write(self, batch: list[Request]) -> None:
        n = sum(len(r.outputs) for r in batch)
        try:
            files = self._files_of(batch)
        except Exception as exc:  # a row the table cannot hold: never retried, counted
            self._failed(exc, "build")
            self._release(n, dropped=n)
            return
        written = 0
        for key, data, rows in files:
            for attempt in range(MAX_ATTEMPTS):
                try:
                    self.store.put(key, data)
                    written += rows
                    break
                except Exception as exc:
                    self._failed(exc, "write")
                    with self._cond:
                        if self._closed or self._cond.wait_for(lambda: self._closed, min(2.0**attempt, 30.0)):
                            break
        self._release(n, dropped=n - written)

    def _files_of(self, batch: list[Request]) -> list[tuple[str, bytes, int]]:
        by_day: dict[str, list[Request]] = {}
        for request in batch:
            by_day.setdefault(day_of(request.time), []).append(request)
        out = []
        for day, requests in by_day.items():
            table = request_table(requests, self.meta, self.settings.drop, self.settings.hash, self.settings.hash_salt)
            self._files += 1
            stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
            host = self.meta[WORKER].split(":")[0]
            name = f"{host}-{stamp}-{os.getpid()}-{self._files:06d}-{uuid.uuid4().hex[:8]}.parquet"
            key = f"date={day}/model_version={self.meta[MODEL_VERSION]}/{name}"
            out.append((key, to_parquet(table), table.num_rows))
        return out

    def _release(self, n: int, dropped: int) -> None:
        with self._cond:
            self._held_rows -= n
            self.rows_written += n - dropped
            if dropped:
                self._dropped("write_failed", dropped)
        if self.metrics is not None and n - dropped:
            self.metrics.capture_written(n - dropped)

    def _dropped(self, reason: str, n: int) -> None:
        self.rows_dropped[reason] += n
        if self.metrics is not None:
            self.metrics.capture_dropped(reason, n)

    def _failed(self, exc: BaseException, stage: str) -> None:
        if self._failures.report(f"capture_{stage}", exc):
            log_event(
                logging.ERROR,
                "capture_write_failed",
                f"capture could not {stage} a file for {self.store.uri}: {type(exc).__name__}; requests are unaffected",
                uri=self.store.uri,
            )
