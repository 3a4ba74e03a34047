"""The statistical tests of every declared signal, and the calibrated decision over all of them.

Up to ``large_n`` rows every test gives a p-value as if rows were i.i.d.; its normal score
``z = -ndtri(p)`` is then standardised with the location/scale measured on held-out reference
chunks of that size at training time (listings come in clusters and live traffic comes from a
finite catalogue, so real chunks vary more than textbook tests assume), and the batch drifts
when any standardised score exceeds one critical value chosen so that the share of held-out
chunks with any test over it is within the false-alarm budget (Bonferroni where the
calibration has too few chunks to resolve the budget).
Above ``large_n`` rows the same calibrated tests read a sample of ``large_n`` rows of the batch
(:func:`large_sample`): the calibration was measured on chunks of at most that size, and p-values
over ten thousand rows would flag every harmless difference. A reference without a calibration
falls back to distances with fixed thresholds (Evidently's rule), raised by what sampling noise
alone gives; shares keep a margin-protected binomial test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from scipy import special

from pyfunc_model.drift.profiles import FULL, profile_masks
from pyfunc_model.drift.reference import TEXT_LEVELS, ConfidenceRef, DriftReference
from pyfunc_model.drift.sketch import chi_square, js_distance, share_excess
from pyfunc_model.drift.specs import COL, SIGNAL, TESTED, Signal
from pyfunc_model.drift.summary import mean_token_shares, token_shares

MIN_VALUES = 10
#: Large samples: a numeric distance flags above ``numeric_distance`` plus this many times the
#: distance's expected value under no change (``NumericSketch.wasserstein_noise``; ~0.8 of it).
WASSERSTEIN_NOISE = 2.0
#: The same for the categorical distances (``_js_threshold``).
JS_NOISE = 2.0
#: Confidence that the calibrated threshold keeps the false-alarm rate within the budget.
CALIBRATION_CONFIDENCE = 0.75
#: Normal scores are clipped to this range (p-values underflow far beyond it).
SCORE_RANGE = (-8.0, 40.0)


@dataclass
class CheckResult:
    """One test on one signal; ``severity`` >= 0.5 exactly when it flags."""

    name: str
    field: str
    test: str
    statistic: float
    p_value: float | None
    threshold: float
    n: int
    kind: str = "data"
    score: float = float("nan")  # standardised normal score (p-value tests)
    drifted: bool = False
    severity: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def normal_score(p: float) -> float:
    """``-ndtri(p)``: 0 at p = 0.5, 2.33 at p = 0.01; clipped to :data:`SCORE_RANGE`."""
    return min(max(float(-special.ndtri(min(max(p, 1e-300), 1.0))), SCORE_RANGE[0]), SCORE_RANGE[1])


def normal_scores(p: np.ndarray) -> np.ndarray:
    """:func:`normal_score` of each p-value."""
    return np.clip(-special.ndtri(np.clip(p, 1e-300, 1.0)), *SCORE_RANGE)


def test_weight(name: str) -> float:
    """The declared weight of a test (``signal:test``); concept tests weigh 1."""
    signal = SIGNAL.get(name.split(":", 1)[0])
    return signal.weight if signal is not None else 1.0


def weighted_scores(scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted Bonferroni on the normal-score scale: p / (w / mean w), back to a normal score.

    Comparing these with the plain Bonferroni critical value gives test i the budget share
    ``w_i / sum(w)``; for weight 1 everywhere the scores are unchanged.
    """
    w = weights / weights.mean()
    p = np.minimum(special.ndtr(-scores) / w, 1.0)
    return np.clip(-special.ndtri(np.maximum(p, 1e-300)), *SCORE_RANGE)


class Calibration:
    """Null distribution of the test scores per sample-size class, read from the reference."""

    def __init__(self, d: dict[str, Any]) -> None:
        self.log_sizes = np.log(np.asarray(d.get("sizes", [1.0]), dtype="float64"))
        self.tests = {k: (np.asarray(v["a"]), np.asarray(v["b"])) for k, v in d.get("tests", {}).items()}
        self.tail = [np.asarray(t) for t in d.get("max_tail", [])]
        self.chunks = list(d.get("chunks", []))
        # every test's location and scale per size as two matrices, for standardise_many
        self._row = {k: i for i, k in enumerate(self.tests)}
        sizes = self.log_sizes.size
        self._a = np.asarray([a for a, _ in self.tests.values()], dtype="float64").reshape(-1, sizes)
        self._b = np.asarray([b for _, b in self.tests.values()], dtype="float64").reshape(-1, sizes)

    def _at(self, n: int, values: np.ndarray) -> float:
        # scalars: Python's min/max, not numpy's clip (a few microseconds per call, many calls per request)
        x = min(max(math.log(max(n, 1)), float(self.log_sizes[0])), float(self.log_sizes[-1]))
        return float(np.interp(x, self.log_sizes, values))

    def standardise_many(self, keys: list[str], z: np.ndarray, n: int) -> np.ndarray:
        """Each score minus its test's null location, over its null scale, both interpolated in
        log n between the calibrated sizes; a test without a calibration keeps its score. One
        interpolation per matrix rather than two ``np.interp`` calls per test (a window test
        standardises ~80 scores)."""
        rows = np.asarray([self._row.get(k, -1) for k in keys], dtype=np.int64)
        known = rows >= 0
        if not known.any():
            return z
        x = min(max(math.log(max(n, 1)), float(self.log_sizes[0])), float(self.log_sizes[-1]))
        lo = min(int(np.searchsorted(self.log_sizes, x, side="right")) - 1, self.log_sizes.size - 2)
        if lo < 0:  # one calibrated size
            a, b = self._a[rows[known], 0], self._b[rows[known], 0]
        else:  # np.interp's own formula: slope x (x - left edge) + value at the left edge
            dx = x - float(self.log_sizes[lo])
            width = float(self.log_sizes[lo + 1] - self.log_sizes[lo])
            a_lo, a_hi = self._a[rows[known], lo], self._a[rows[known], lo + 1]
            b_lo, b_hi = self._b[rows[known], lo], self._b[rows[known], lo + 1]
            a = (a_hi - a_lo) / width * dx + a_lo
            b = (b_hi - b_lo) / width * dx + b_lo
        out = np.array(z, dtype="float64")
        out[known] = (out[known] - a) / np.maximum(b, 1e-6)
        return out

    def critical(self, n: int, alpha: float, m: int) -> float:
        """Upper confidence bound of the held-out chunks' (1 - alpha) quantile of the maximum score:
        the family-wise false-alarm rate on held-out data is then at most alpha. Bonferroni
        (``alpha / m``) when the calibration has too few chunks to resolve alpha."""
        bonferroni = -float(special.ndtri(alpha / max(m, 1)))
        if not self.tail:
            return bonferroni
        empirical = []
        for tail, chunks in zip(self.tail, self.chunks, strict=True):
            j = _conservative_rank(chunks, alpha)
            empirical.append(tail[j] if 1 <= j < tail.size else np.nan)
        emp = np.asarray(empirical)
        if not np.isfinite(emp).all():  # a budget the held-out chunks cannot resolve
            return bonferroni
        return self._at(n, emp)


#: The :class:`Calibration` of each reference's calibration dict (held so that its id stays its own).
_CALIBRATIONS: dict[int, tuple[dict[str, Any], Calibration]] = {}
_NO_CALIBRATION: dict[str, Any] = {}


def calibration_of(ref: DriftReference) -> Calibration:
    """The reference's :class:`Calibration`, built once per process: every request reads it."""
    d = ref.calibration or _NO_CALIBRATION
    held = _CALIBRATIONS.get(id(d))
    if held is None or held[0] is not d:
        if len(_CALIBRATIONS) >= 16:
            _CALIBRATIONS.clear()
        held = _CALIBRATIONS[id(d)] = (d, Calibration(d))
    return held[1]


@lru_cache(maxsize=256)  # a few (chunks, alpha) pairs per reference, asked on every request
def _conservative_rank(chunks: int, alpha: float, confidence: float = CALIBRATION_CONFIDENCE) -> int:
    """How many held-out chunks may lie above the threshold: the ``1 - confidence`` quantile of
    Binomial(chunks, alpha), so that the threshold is an upper confidence bound of the (1 - alpha)
    quantile and the calibration's own sampling error does not push false alarms over budget."""
    j = 0
    while special.bdtr(j, chunks, alpha) < 1.0 - confidence and j < chunks:
        j += 1
    return j


def _level(levels: tuple[int, ...], target: float, available: int) -> int:
    ok = [k for k in levels if k <= max(target, levels[0]) and k <= available]
    return max(ok) if ok else levels[0]


def _numeric(ref: DriftReference, s: Signal, values: np.ndarray, large: bool) -> list[CheckResult]:
    sketch = ref.numeric.get(s.name)
    if sketch is None or not sketch.usable or sketch.missing_share > 0.99:
        return []
    present = values[np.isfinite(values)]
    if present.size < MIN_VALUES:
        return []
    alternative = "greater" if s.one_sided else "two-sided"
    if large:
        d = sketch.wasserstein(present, alternative)
        # the fixed distance plus what sampling alone gives this many values (the price residual,
        # computed for at most 256 titles of a batch, would otherwise flag in-distribution batches)
        thr = ref.settings["numeric_distance"] + WASSERSTEIN_NOISE * sketch.wasserstein_noise / math.sqrt(present.size)
        return [CheckResult(f"{s.name}:wasserstein", s.field, "wasserstein_norm", d, None, thr, present.size)]
    out = []
    for test in s.tests:
        if test == "rank":
            z, p = sketch.rank_shift(present, s.one_sided)
            out.append(CheckResult(f"{s.name}:rank", s.field, "rank_z", z, p, 0.0, present.size))
        elif test == "ks":
            d, p = sketch.ks(present, alternative)
            out.append(CheckResult(f"{s.name}:ks", s.field, "ks", d, p, 0.0, present.size))
    return out


def _share(ref: DriftReference, s: Signal, values: np.ndarray, large: bool) -> list[CheckResult]:
    if s.name not in ref.shares:
        return []
    present = values[~np.isnan(values)]
    if present.size < MIN_VALUES:
        return []
    k, n = int(present.sum()), present.size
    cfg = ref.settings
    expected = ref.shares[s.name]
    if large:
        p = share_excess(k, n, expected, cfg["share_margin"])
    else:
        p = share_excess(k, n, max(expected, cfg["small_share_floor"]), 0.0)
    return [CheckResult(f"{s.name}:excess", s.field, "binomial_excess", k / n, p, 0.0, n, s.role)]


def _buckets(ref: DriftReference, s: Signal, values: np.ndarray, large: bool) -> list[CheckResult]:
    if not ref.monitored(s.field):
        return []
    present = values[~np.isnan(values)].astype(np.int64)
    if present.size < MIN_VALUES:
        return []
    cref = ref.categorical[s.field]
    levels = tuple(int(k) for k in cref.coarse)
    per_cell = ref.settings["bucket_rows_per_cell"]
    k = max(levels) if large else _level(levels, present.size / per_cell, max(levels))
    counts = np.bincount(present % k, minlength=k)
    ref_share = np.asarray(cref.coarse[str(k)])
    if large:
        d = js_distance(counts, ref_share)
        thr = _js_threshold(ref.settings["categorical_distance"], int(np.count_nonzero(ref_share)), present.size)
        return [CheckResult(f"{s.name}:jensen_shannon", s.field, "jensen_shannon", d, None, thr, present.size)]
    stat, p = chi_square(counts, ref_share)
    return [CheckResult(f"{s.name}:chi2", s.field, f"chi_square_{k}_buckets", stat, p, 0.0, present.size)]


def _js_threshold(distance: float, cells: int, n: int) -> float:
    """``distance`` raised by what sampling alone gives: ``n`` values drawn from the reference's
    ``cells`` cells lie at a Jensen-Shannon divergence of about ``(cells - 1) / (8 n ln 2)`` bits from
    it (the chi-square approximation), so 2,000 rows over 256 buckets sit at a distance of ~0.13 by
    chance; the threshold adds :data:`JS_NOISE` times that divergence."""
    noise = max(cells - 1, 0) / (8.0 * max(n, 1) * math.log(2.0))
    return math.sqrt(distance * distance + JS_NOISE * noise)


def _tokens(ref: DriftReference, s: Signal, tokens: np.ndarray, large: bool) -> list[CheckResult]:
    n = int(np.count_nonzero(tokens.any(axis=1)))
    if n < MIN_VALUES:
        return []
    if large:
        counts = tokens.sum(axis=0)
        pooled = np.asarray(ref.text.pooled)
        d = js_distance(counts, pooled)
        thr = _js_threshold(ref.settings["categorical_distance"], int(np.count_nonzero(pooled)), int(counts.sum()))
        return [CheckResult(f"{s.name}:jensen_shannon", s.field, "jensen_shannon", d, None, thr, n)]
    k = _level(TEXT_LEVELS, n / 3, TEXT_LEVELS[-1])
    mean = mean_token_shares(tokens, k)
    lv = ref.text_level(k)
    keep = lv["var"] > 0
    t = float(np.sum(n * (mean[keep] - lv["mean"][keep]) ** 2 / lv["var"][keep]))
    p = float(special.chdtrc(lv["dof"], t / lv["scale"]))
    return [CheckResult(f"{s.name}:chi2", s.field, f"scaled_chi_square_{k}_buckets", t, p, 0.0, n)]


def chunk_scores(ref: DriftReference, tables: np.ndarray, tokens: np.ndarray) -> dict[str, np.ndarray]:
    """Normal scores of every test on many small chunks at once (``tables``: chunks x rows x
    signals, ``tokens``: chunks x rows x 256), each as :func:`data_tests` scores one chunk of that
    size; NaN where a chunk has no such test. The calibration's thousands of null chunks cost a
    fraction of a loop over them."""
    chunks, size = tables.shape[:2]
    pool = ChunkPool(ref, tables.reshape(chunks * size, -1), tokens.reshape(chunks * size, -1))
    return pool.scores(np.arange(chunks * size).reshape(chunks, size))


class ChunkPool:
    """Rows that many chunks are drawn from (a held-out fold of the calibration), scored by
    :meth:`scores` as :func:`chunk_scores` scores chunks. What a test reads of each row (its
    place in a numeric sketch, its folded token shares) is computed once per row, not once per
    chunk the row lands in."""

    def __init__(self, ref: DriftReference, table: np.ndarray, tokens: np.ndarray) -> None:
        self.ref, self.table, self.tokens = ref, table, tokens
        self._placed: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
        self._shares: dict[int, np.ndarray] = {}
        self._sent = tokens.any(axis=1)

    def scores(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Every test's normal score on each chunk (``rows``: chunks x size, rows of the pool)."""
        out: dict[str, np.ndarray] = {}
        ref = self.ref
        tables = self.table[rows]
        for s in TESTED:
            if s.kind == "numeric":
                out.update(self._numeric(s, rows))
            elif s.kind == "share" and s.name in ref.shares:
                out[f"{s.name}:excess"] = _share_many(ref, s, tables[:, :, COL[s.name]])
            elif s.kind == "buckets" and ref.monitored(s.field):
                out[f"{s.name}:chi2"] = _buckets_many(ref, s, tables[:, :, COL[s.name]])
            elif s.kind == "tokens":
                out[f"{s.name}:chi2"] = self._tokens(rows)
        return out

    def _numeric(self, s: Signal, rows: np.ndarray) -> dict[str, np.ndarray]:
        sketch = self.ref.numeric.get(s.name)
        if sketch is None or not sketch.usable or sketch.missing_share > 0.99:
            return {}
        if s.name not in self._placed:
            self._placed[s.name] = sketch.value_positions(self.table[:, COL[s.name]])
        present, ranks, below, upto = (a[rows] for a in self._placed[s.name])
        enough = present.sum(axis=1) >= MIN_VALUES
        out = {}
        for test in s.tests:
            if test == "rank":
                _, p = sketch.rank_shift_rows(present, ranks, s.one_sided)
            elif test == "ks":
                _, p = sketch.ks_rows(present, below, upto, "greater" if s.one_sided else "two-sided")
            else:
                continue
            out[f"{s.name}:{test}"] = _scores_where(enough, p)
        return out

    def _token_shares(self, k: int) -> np.ndarray:
        """Each pool row's token shares folded to ``k`` buckets (zeros for a row without tokens)."""
        if k not in self._shares:
            every = np.zeros((self.tokens.shape[0], k))
            shares, sent = token_shares(self.tokens, k)
            every[sent] = shares
            self._shares[k] = every
        return self._shares[k]

    def _tokens(self, rows: np.ndarray) -> np.ndarray:
        n = self._sent[rows].sum(axis=1)
        chosen = np.asarray([_level(TEXT_LEVELS, m / 3, TEXT_LEVELS[-1]) for m in n])
        p = np.full(len(n), 0.5)
        for k in np.unique(chosen):
            at = np.flatnonzero((chosen == k) & (n >= MIN_VALUES))
            if not at.size:
                continue
            mean = self._token_shares(k)[rows[at]].sum(axis=1) / n[at, None]  # rows without tokens add nothing
            lv = self.ref.text_level(k)
            keep = lv["var"] > 0
            t = np.sum(n[at, None] * (mean[:, keep] - lv["mean"][keep]) ** 2 / lv["var"][keep], axis=1)
            p[at] = special.chdtrc(lv["dof"], t / lv["scale"])
        return _scores_where(n >= MIN_VALUES, p)


def _share_many(ref: DriftReference, s: Signal, values: np.ndarray) -> np.ndarray:
    present = ~np.isnan(values)
    n = present.sum(axis=1)
    k = np.where(present, values, 0.0).sum(axis=1).astype(np.int64)
    p0 = float(min(max(max(ref.shares[s.name], ref.settings["small_share_floor"]), 1e-6), 1 - 1e-9))
    p = np.where(k > 0, special.bdtrc(np.maximum(k - 1, 0), n, p0), 1.0)  # share_excess, margin 0
    return _scores_where(n >= MIN_VALUES, p)


def _buckets_many(ref: DriftReference, s: Signal, values: np.ndarray) -> np.ndarray:
    present = ~np.isnan(values)
    n = present.sum(axis=1)
    cref = ref.categorical[s.field]
    levels = tuple(int(k) for k in cref.coarse)
    per_cell = ref.settings["bucket_rows_per_cell"]
    chosen = np.asarray([_level(levels, m / per_cell, max(levels)) for m in n])
    p = np.full(len(n), 0.5)
    for k in np.unique(chosen):
        rows = np.flatnonzero(chosen == k)
        kept = present[rows]
        chunk = np.broadcast_to(np.arange(len(rows))[:, None], kept.shape)[kept]
        buckets = values[rows][kept].astype(np.int64) % k
        counts = np.bincount(chunk * k + buckets, minlength=len(rows) * k).reshape(-1, k).astype("float64")
        expected = np.clip(np.asarray(cref.coarse[str(k)], dtype="float64"), 1e-6, None)
        expected = expected / expected.sum() * counts.sum(axis=1)[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):  # chunks without values: not tested
            stat = np.sum((counts - expected) ** 2 / expected, axis=1)  # chi_square, inflation 1
        p[rows] = special.chdtrc(max(k - 1, 1), stat)
    return _scores_where(n >= MIN_VALUES, p)


def _scores_where(tested: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Normal scores of ``p`` where a chunk was tested, NaN elsewhere."""
    return np.where(tested, normal_scores(np.where(tested, p, 0.5)), np.nan)


def data_tests(ref: DriftReference, table: np.ndarray, tokens: np.ndarray, large: bool) -> list[CheckResult]:
    """Every declared test of every signal, undecided (p-values as for i.i.d. rows)."""
    out: list[CheckResult] = []
    for s in TESTED:
        values = table[:, COL[s.name]]
        if s.kind == "numeric":
            out += _numeric(ref, s, values, large)
        elif s.kind == "share":
            out += _share(ref, s, values, large)
        elif s.kind == "buckets":
            out += _buckets(ref, s, values, large)
        elif s.kind == "tokens":
            out += _tokens(ref, s, tokens, large)
    return out


def _confidence_tests(ref: DriftReference, cref: ConfidenceRef, conf: np.ndarray, prefix: str) -> list[CheckResult]:
    conf = conf[np.isfinite(conf)]
    if conf.size < MIN_VALUES or not cref.sketch.usable:
        return []
    margin = ref.settings["confidence_margin"]
    se = max(cref.sketch.std, 1e-6) / np.sqrt(conf.size)
    z = (conf.mean() - (cref.sketch.mean - margin)) / se
    low_k = int(np.sum(conf < cref.low_threshold))
    low_p = share_excess(low_k, conf.size, cref.low_share, ref.settings["share_margin"])
    mean = float(conf.mean())
    return [
        CheckResult(
            f"{prefix}:mean_drop", "confidence", "z_drop", mean, float(special.ndtr(z)), 0.0, conf.size, "concept"
        ),
        CheckResult(
            f"{prefix}:low_share", "confidence", "binomial_excess", low_k / conf.size, low_p, 0.0, conf.size, "concept"
        ),
    ]


#: The predicted category mix test pools the classes a sample would see fewer than this many
#: times (by the reference's shares) into one cell: the chi-square's p-value holds from ~5 expected.
MIX_MIN_EXPECTED = 5.0


def predicted_mix_test(cref: ConfidenceRef, predicted: np.ndarray, name: str) -> list[CheckResult]:
    """Whether the rows' predicted categories are mixed as the reference rows' of the same input
    profile: a two-sample chi-square of the class counts (both samples' noise counted), the
    classes expected fewer than :data:`MIX_MIN_EXPECTED` times in the rows pooled into one cell.

    A share of the traffic coming from a few categories (a new seller's catalogue, a promotion)
    moves the predictions' mix before any input field's own distribution shows it clearly; it is
    the model's output, so like the confidence it is concept evidence: flagged, never a reason
    to reroute."""
    predicted = predicted[predicted >= 0]
    n = predicted.size
    if n < MIN_VALUES or not cref.predicted_counts:
        return []
    ref = np.asarray(cref.predicted_counts, dtype="float64")
    counts = np.bincount(predicted, minlength=ref.size)[: ref.size].astype("float64")
    big = n * ref / ref.sum() >= MIX_MIN_EXPECTED
    cells = np.vstack([np.append(counts[big], counts[~big].sum()), np.append(ref[big], ref[~big].sum())])
    cells = cells[:, cells.sum(axis=0) > 0]
    if cells.shape[1] < 2:
        return []
    expected = cells.sum(axis=0) * cells.sum(axis=1, keepdims=True) / cells.sum()
    stat = float(np.sum((cells - expected) ** 2 / expected))
    p = float(special.chdtrc(cells.shape[1] - 1, stat))
    return [CheckResult(name, "category", "chi2_two_sample", stat, p, 0.0, n, "concept")]


def concept_tests(
    ref: DriftReference, table: np.ndarray, conf: np.ndarray, predicted: np.ndarray | None = None
) -> list[CheckResult]:
    """The confidence tests, and the predicted category mix test where ``predicted`` (class
    indices, -1 where the primary gave none) is given, of each input profile against that
    profile's reference rows."""
    out: list[CheckResult] = []
    for name, cref, rows in profile_masks(ref, table):
        out += _confidence_tests(ref, cref, conf[rows], "confidence" if name == FULL else f"confidence_{name}")
        if predicted is not None:
            mix = "predicted:category_mix" if name == FULL else f"predicted_{name}:category_mix"
            out += predicted_mix_test(cref, predicted[rows], mix)
    return out


def run_tests(
    ref: DriftReference,
    table: np.ndarray,
    tokens: np.ndarray,
    conf: np.ndarray | None,
    alpha: float,
    predicted: np.ndarray | None = None,
) -> list[CheckResult]:
    """All tests for one batch/window, decided so that ``alpha`` is the family-wise false-alarm
    rate. ``predicted``: each row's predicted class index (-1: none), read with ``conf``."""
    large_n = int(ref.settings["large_n"])
    if regime(ref, table.shape[0]) == CALIBRATED_SAMPLE:
        rows = large_sample(table, tokens, large_n)
        table, tokens = table[rows], tokens[rows]
        conf = None if conf is None else conf[rows]
        predicted = None if predicted is None else predicted[rows]
    n = table.shape[0]
    large = n > large_n
    concept = concept_tests(ref, table, conf, predicted) if conf is not None else []
    results = [*data_tests(ref, table, tokens, large), *concept]
    decide(results, n, alpha, None if large else calibration_of(ref))
    return results


#: How a batch is tested (:func:`regime`).
CALIBRATED, CALIBRATED_SAMPLE, DISTANCE = "calibrated", "calibrated sample", "distance"


def regime(ref: DriftReference, n: int) -> str:
    """Up to ``large_n`` rows: the calibrated tests on every row. Above: the calibrated tests on a
    sample of ``large_n`` rows (:func:`large_sample`), so a large batch is judged at least as
    keenly as a batch of ``large_n`` rows and with the same false-alarm rate; distances with
    fixed thresholds only for a reference without a calibration."""
    if n <= ref.settings["large_n"]:
        return CALIBRATED
    return CALIBRATED_SAMPLE if (ref.calibration or {}).get("max_tail") else DISTANCE


def large_sample(table: np.ndarray, tokens: np.ndarray, size: int) -> np.ndarray:
    """The rows of a large batch its calibrated tests read, in order: one row of each set of
    identical rows (a listing sent many times in one batch is one listing to the calibration, which
    was measured on distinct rows), every row with a price residual (the summary computes it for at
    most 256 titles of a batch) and evenly spaced others, ``size`` in all (fewer when the batch has
    fewer distinct rows)."""
    filled = np.ascontiguousarray(np.where(np.isnan(table), np.inf, table))  # NaN never equals itself
    rows = np.hstack([filled.view(np.uint8).reshape(len(table), -1), np.ascontiguousarray(tokens, dtype=np.uint8)])
    _, first_of = np.unique(
        np.ascontiguousarray(rows).view(np.dtype((np.void, rows.shape[1]))).ravel(), return_index=True
    )
    distinct = np.sort(first_of)
    residual = table[distinct][:, [COL["price_residual"], COL["price_residual_title"]]]
    priced = np.isfinite(residual).any(axis=1)
    first, rest = distinct[priced], distinct[~priced]
    if first.size >= size:
        return first[np.linspace(0, first.size - 1, size).round().astype(np.int64)]
    take = min(size - first.size, rest.size)
    others = rest[np.linspace(0, rest.size - 1, take).round().astype(np.int64)] if take else rest[:0]
    return np.sort(np.concatenate([first, others]))


def decide(results: list[CheckResult], n: int, alpha: float, calibration: Calibration | None) -> None:
    """Standardise (data tests, small samples) and flag in place."""
    tested = [r for r in results if r.p_value is not None]
    m = len(tested)
    critical = calibration.critical(n, alpha, m) if calibration else -float(special.ndtri(alpha / max(m, 1)))
    if tested:
        z = normal_scores(np.asarray([r.p_value for r in tested], dtype="float64"))
        if calibration:
            data = [i for i, r in enumerate(tested) if r.kind != "concept"]
            z[data] = calibration.standardise_many([tested[i].name for i in data], z[data], n)
        scores = weighted_scores(z, np.asarray([test_weight(r.name) for r in tested]))
        for r, score in zip(tested, scores.tolist(), strict=True):
            r.score = score
            r.threshold = critical
            r.drifted = score > critical
            r.severity = min(max(score / critical, 0.0), 2.0) / 2.0
    for r in results:
        if r.p_value is None:
            r.drifted = r.statistic > r.threshold
            r.severity = min(max(float(r.statistic / r.threshold), 0.0), 2.0) / 2.0


def estimated_accuracy(ref: DriftReference, conf: np.ndarray | None, table: np.ndarray | None = None) -> float:
    """CBPE: expected accuracy = mean calibrated probability of the predicted class, each row
    through the reliability curve of its input profile (``table``: the rows' summary)."""
    if conf is None:
        return float("nan")
    parts = (
        [(ref.confidence, np.ones(conf.size, dtype=bool))]
        if table is None
        else [(cref, rows) for _, cref, rows in profile_masks(ref, table)]
    )
    expected, counted = 0.0, 0
    for cref, rows in parts:
        c = conf[rows]
        c = c[np.isfinite(c)]
        if c.size == 0:
            continue
        acc = np.interp(c, cref.calib_conf, cref.calib_acc) if len(cref.calib_conf) >= 2 else c
        expected += float(np.sum(acc))
        counted += c.size
    return expected / counted if counted else float("nan")


__all__ = [
    "Calibration",
    "CheckResult",
    "calibration_of",
    "concept_tests",
    "data_tests",
    "decide",
    "estimated_accuracy",
    "normal_score",
    "predicted_mix_test",
    "run_tests",
    "test_weight",
    "weighted_scores",
]
