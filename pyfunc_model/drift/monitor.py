"""``DriftMonitor``: per-batch tests, plus a bounded sliding window for single-row traffic.

The window keeps only the per-row monitored values (:class:`RowSummary` rows, confidences and
predicted classes)
in fixed-size ring buffers, so memory is bounded by ``window_size`` rows whatever the traffic.
A ring buffer rather than a ``deque`` of rows: O(1) appends and the tests read it as one array.
The window is tested at three scales, all of it, its most recent fifth and its newest 60 rows, so
a sudden change shows within tens of rows, a gradual one within ~100, while slow drifts still
accumulate evidence over the whole window.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field

import numpy as np

from pyfunc_model.drift.checks import CheckResult, estimated_accuracy, regime, run_tests
from pyfunc_model.drift.ood import REASON_INPUTS
from pyfunc_model.drift.reference import DriftReference
from pyfunc_model.drift.specs import CATEGORICAL, COL, COLUMNS, RAW_NUMERIC, RowSummary, summarize
from pyfunc_model.drift.summary import TEXT_BUCKETS, PreparedColumns, concat_columns

#: The newest rows of the window are also tested on their own: a sudden change (a new upstream,
#: a currency switch) shows within about this many single rows whatever the window size.
NEWEST_ROWS = 60
#: A scale of the window is tested again once this share of its rows is new: the whole window
#: (1,000 rows) every 50 rows, its recent fifth and its newest rows at every window test. Ten new
#: rows in a thousand barely move the whole window's statistics, and its tests cost as much as the
#: two smaller scales' together; until it is tested again its last result stands.
RETEST_SHARE = 0.05
#: The fields a client may leave out; their sent shares are reported with every verdict.
OPTIONAL_FIELDS = (*CATEGORICAL, *RAW_NUMERIC)
#: What a request too small for its own tests needs summarised when it arrives: the row reasons'
#: inputs and which fields it sent (the verdict's sent shares and estimated accuracy). The rest of
#: its summary (the price neighbour search, the conditional signals, the token counts) is computed
#: at the next window test, for every row since the last one in one pass (:meth:`DriftMonitor.check`).
AT_ONCE = frozenset({*REASON_INPUTS, *(f"{f}_missing" for f in OPTIONAL_FIELDS)})


@dataclass
class DriftVerdict:
    """The drift decision that applies to the rows of one ``check`` call.

    ``score`` is the largest test severity: 0 = no evidence, 0.5 = exactly at the calibrated
    decision threshold (or distance = threshold), 1 = twice past it. ``drifted`` is True exactly
    when some test flags. ``scope``: ``batch`` (the request's own rows) or ``window`` (the
    sliding window of recent small requests, every client's).
    """

    drifted: bool
    score: float
    scope: str
    drifted_features: list[str]
    concept_drift: bool
    estimated_accuracy: float
    details: dict = field(default_factory=dict)


class _Ring:
    """Fixed-capacity buffers of the most recent rows (monitored values only)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.table = np.empty((capacity, len(COLUMNS)))
        self.tokens = np.empty((capacity, TEXT_BUCKETS), dtype=np.uint8)
        self.conf = np.empty(capacity)
        self.predicted = np.empty(capacity, dtype=np.int64)
        self.size = 0
        self.head = 0  # next write position

    def append(self, table: np.ndarray, tokens: np.ndarray, conf: np.ndarray, predicted: np.ndarray) -> None:
        if table.shape[0] >= self.capacity:
            keep = slice(-self.capacity, None)
            table, tokens, conf, predicted = table[keep], tokens[keep], conf[keep], predicted[keep]
        idx = (self.head + np.arange(table.shape[0])) % self.capacity
        self.table[idx], self.tokens[idx], self.conf[idx], self.predicted[idx] = table, tokens, conf, predicted
        self.head = int((self.head + table.shape[0]) % self.capacity)
        self.size = min(self.size + table.shape[0], self.capacity)

    def ordered(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Copies of the held rows, oldest first."""
        idx = (self.head - self.size + np.arange(self.size)) % self.capacity
        return self.table[idx], self.tokens[idx], self.conf[idx], self.predicted[idx]


class DriftMonitor:
    """Thread-safe drift checks against a :class:`DriftReference`.

    Window size and false-alarm budget are fixed at construction (deployment settings): no
    request can resize the shared window or change the rate at which everybody is flagged.
    """

    def __init__(
        self,
        reference: DriftReference,
        window_size: int = 1000,
        min_batch: int = 30,
        retest_every: int | None = None,
        false_alarm_budget: float = 0.01,
    ) -> None:
        """``retest_every``: rows between two window tests (default window_size // 100); calls in
        between reuse the last window verdict, so single-row traffic pays for the tests ~1 call in
        10 at the default window of 1000, at the price of at most that many rows of extra delay."""
        if window_size < min_batch or min_batch < 1:
            raise ValueError(f"need 1 <= min_batch <= window_size, got {min_batch=}, {window_size=}")
        if not 0.0 < false_alarm_budget < 0.5:
            raise ValueError(f"false_alarm_budget must be in (0, 0.5), got {false_alarm_budget}")
        self.reference = reference
        self.false_alarm_budget = float(false_alarm_budget)
        self.window_size = int(window_size)
        self.min_batch = int(min_batch)
        self.retest_every = retest_every
        self._ring = _Ring(self.window_size)
        self._lock = threading.Lock()
        self._last: tuple[int, DriftVerdict] | None = None  # (rows received when tested, verdict)
        #: each window scale's last test: (rows received then, rows tested, verdict, its tests)
        self._scales: dict[str, tuple[int, int, DriftVerdict, list[CheckResult]]] = {}
        #: small requests received since the last window test, summarised at the next one
        self._pending: list[tuple[PreparedColumns, np.ndarray, np.ndarray]] = []
        self._received = 0

    @property
    def window_len(self) -> int:
        """Rows currently held in the sliding window (never more than its capacity)."""
        return min(self._ring.size + self._pending_rows(), self._ring.capacity)

    def _pending_rows(self) -> int:
        return sum(conf.size for _, conf, _ in self._pending)

    def summarize_request(self, prepared: PreparedColumns, n: int) -> RowSummary:
        """What a request of ``n`` rows needs summarised now: everything from ``min_batch`` rows
        (its own tests); below, the :data:`AT_ONCE` columns, the rest waits for the window test
        (pass ``prepared`` to :meth:`check` with it). Ten single rows summarised together cost
        about what one costs alone."""
        return summarize(prepared, self.reference, only=None if n >= self.min_batch else AT_ONCE)

    def check(
        self,
        prepared: PreparedColumns | None,
        confidence: np.ndarray | None,
        summary: RowSummary | None = None,
        predicted: np.ndarray | None = None,
    ) -> DriftVerdict:
        """Thread-safe. Batches >= min_batch rows are tested on their own; smaller ones join the
        sliding window, which is tested once it holds >= min_batch rows.

        ``summary`` may be passed when the caller already computed it (e.g. for OOD reasons);
        ``prepared`` is then not read, unless the summary is partial (:meth:`summarize_request`):
        a small request's rows are then kept and summarised with the next window test.
        ``confidence`` None skips the concept-drift tests; ``predicted`` (each row's predicted
        class index, -1 where the primary gave none) adds the predicted category mix test to them.
        """
        if summary is None or (not summary.complete and len(summary) >= self.min_batch):
            if prepared is None:
                raise ValueError("check needs the prepared frame or its complete summary")
            summary = summarize(prepared, self.reference)
        if not summary.complete and prepared is None:
            raise ValueError("a partial summary needs the prepared rows it was computed from")
        n = len(summary)
        conf = np.full(n, np.nan) if confidence is None else np.asarray(confidence, dtype="float64").reshape(-1)
        if conf.size != n:
            raise ValueError(f"confidence has {conf.size} values for {n} rows")
        pred = np.full(n, -1, dtype=np.int64) if predicted is None else np.asarray(predicted, dtype=np.int64)
        pred = pred.reshape(-1)
        if pred.size != n:
            raise ValueError(f"predicted has {pred.size} values for {n} rows")
        if n >= self.min_batch:
            verdict = self._decide(summary.table, summary.tokens, conf, pred, "batch", confidence is not None)
            return _detailed(*verdict)
        with self._lock:
            capacity = self._ring.capacity
            if summary.complete:
                self._flush_pending()  # arrival order
                self._ring.append(summary.table, summary.tokens, conf, pred)
            else:
                self._pending.append((prepared, conf, pred))  # type: ignore[arg-type]
            self._received += n
            held, received = min(self._ring.size + self._pending_rows(), capacity), self._received
            every = self.retest_every if self.retest_every is not None else max(1, capacity // 100)
            if self._last is not None and received - self._last[0] < every:
                return dataclasses.replace(self._last[1], details={**self._last[1].details, "reused": True})
            if held >= self.min_batch:
                self._flush_pending()
                snapshot = self._ring.ordered()
            else:
                snapshot = None
        if snapshot is None:
            return DriftVerdict(
                False,
                0.0,
                "window",
                [],
                False,
                estimated_accuracy(self.reference, conf, summary.table),
                {"n_rows": held, "status": f"warming up: {held}/{self.min_batch} rows"},
            )
        verdict = self._test_window(*snapshot, held, received, every)
        with self._lock:
            if self._last is None or self._last[0] < received:
                self._last = (received, verdict)
        return verdict

    def _flush_pending(self) -> None:
        """Summarise the kept small requests in one pass and add them to the window (lock held)."""
        if not self._pending:
            return
        parts, confs, preds = zip(*self._pending, strict=True)
        self._pending = []
        summary = summarize(concat_columns(list(parts)), self.reference, max_residual_titles=None)
        self._ring.append(summary.table, summary.tokens, np.concatenate(confs), np.concatenate(preds))

    def _test_window(
        self,
        table: np.ndarray,
        tokens: np.ndarray,
        wconf: np.ndarray,
        wpred: np.ndarray,
        held: int,
        received: int = 0,
        every: int = 1,
    ) -> DriftVerdict:
        """Test the whole window, its most recent fifth and its newest rows; report the strongest
        evidence. Each scale gets an equal share of the budget, so their union keeps it. A scale
        with few new rows since its last test keeps that test's result (:data:`RETEST_SHARE`)."""
        has_conf = bool(np.isfinite(wconf).any())
        scales = {"window": held}
        recent = max(self.min_batch, held // 5)
        if held - recent >= self.min_batch:
            scales["recent"] = recent
            newest = max(self.min_batch, NEWEST_ROWS)
            if newest < recent:
                scales["newest"] = newest
        if len(scales) == 1:
            return _detailed(*self._decide(table, tokens, wconf, wpred, "window", has_conf))
        share = 1.0 / len(scales)
        decided = {}
        for name, n in scales.items():
            last = self._scales.get(name)
            if last is not None and last[1] == n and 0 <= received - last[0] < max(every, int(RETEST_SHARE * n)):
                decided[name] = last[2], last[3]
                continue
            decided[name] = self._decide(table[-n:], tokens[-n:], wconf[-n:], wpred[-n:], "window", has_conf, share)
            self._scales[name] = (received, n, *decided[name])
        name = max(decided, key=lambda k: decided[k][0].score)  # ties keep the larger scale
        stored, results = decided[name]
        chosen = _detailed(dataclasses.replace(stored, details=dict(stored.details)), results)  # stored stays as tested
        chosen.details["window_rows"] = held
        chosen.details["tested_rows"] = scales
        chosen.details["scale"] = name
        return chosen

    def _decide(
        self,
        table: np.ndarray,
        tokens: np.ndarray,
        conf: np.ndarray,
        predicted: np.ndarray,
        scope: str,
        has_conf: bool,
        budget_share: float = 1.0,
    ) -> tuple[DriftVerdict, list[CheckResult]]:
        """The verdict on these rows without its per-test details, and the decided tests."""
        alpha = self.false_alarm_budget * budget_share
        pred = predicted if (predicted >= 0).any() else None
        results = run_tests(self.reference, table, tokens, conf if has_conf else None, alpha, pred)
        verdict_tests = [r for r in results if r.kind != "completeness"]
        flagged = [r for r in verdict_tests if r.drifted]
        data = [r for r in flagged if r.kind == "data"]
        concept = any(r.kind == "concept" for r in flagged)
        fields = list(dict.fromkeys(r.field for r in data))
        finite = conf[np.isfinite(conf)] if has_conf else conf[:0]
        return DriftVerdict(
            drifted=bool(flagged),
            score=max((r.severity for r in verdict_tests), default=0.0),
            scope=scope,
            drifted_features=fields,
            concept_drift=concept,
            estimated_accuracy=estimated_accuracy(self.reference, conf if has_conf else None, table),
            details={
                "n_rows": int(table.shape[0]),
                "regime": regime(self.reference, table.shape[0]),
                "false_alarm_budget": alpha,
                "flagged_tests": [r.name for r in flagged],
                # fields sent less often than the reference allows: reported, never a drift verdict
                "completeness_flagged": list(
                    dict.fromkeys(r.field for r in results if r.kind == "completeness" and r.drifted)
                ),
                "mean_confidence": float(finite.mean()) if finite.size else float("nan"),
                "sent_share": {f: float(1.0 - table[:, COL[f"{f}_missing"]].mean()) for f in OPTIONAL_FIELDS},
            },
        ), results


def _detailed(verdict: DriftVerdict, results: list[CheckResult]) -> DriftVerdict:
    """The verdict with its tests' details (only the reported scale's, for a window)."""
    verdict.details["tests"] = {r.name: r.as_dict() for r in results}
    return verdict
