"""The statistical tests, chosen by sample size as Evidently does, corrected with Bonferroni.

Small samples (<= ``large_n`` rows): KS on quantile sketches for numeric values, chi-square on
hashed buckets for categoricals, a scaled chi-square on token-bucket shares for title content,
one-sided binomial tests for unseen/missing/low-confidence shares. Large samples: normalised
Wasserstein and Jensen-Shannon distances with fixed thresholds, because p-values flag every
harmless difference once n is large. Shares keep their margin-protected binomial test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from pyfunc_model.drift.reference import CATEGORICAL_LEVELS, TEXT_LEVELS, DriftReference
from pyfunc_model.drift.sketch import chi_square, js_distance, share_excess
from pyfunc_model.drift.summary import CATEGORICAL, COL

#: Which input field each monitored value belongs to (the fallback chain routes on fields).
FIELD_OF = {
    "price": "price",
    "price_vs_subcategory": "price",
    "rating": "rating",
    "reviews_count": "reviews_count",
    "title_chars": "title",
    "title_oov_rate": "title",
    "title_tokens": "title",
}
RAW_NUMERIC = ("price", "rating", "reviews_count")
MIN_VALUES = 10


@dataclass
class TestResult:
    """One test on one monitored value; ``severity`` >= 0.5 exactly when it flags."""

    name: str
    field: str
    test: str
    statistic: float
    p_value: float | None
    threshold: float
    n: int
    kind: str = "data"
    drifted: bool = False
    severity: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def _level(levels: tuple[int, ...], target: float, available: int) -> int:
    ok = [k for k in levels if k <= max(target, levels[0]) and k <= available]
    return max(ok) if ok else levels[0]


def _numeric_tests(ref: DriftReference, table: np.ndarray, large: bool) -> list[TestResult]:
    out = []
    cfg = ref.settings
    n_rows = table.shape[0]
    for name, sketch in ref.numeric.items():
        if not sketch.usable or sketch.missing_share > 0.99:
            continue
        values = table[:, COL[name]]
        present = values[np.isfinite(values)]
        if name in RAW_NUMERIC:
            k = int(n_rows - present.size)
            p = share_excess(k, n_rows, sketch.missing_share, cfg["share_margin"])
            out.append(TestResult(f"{name}_missing", name, "binomial_excess", k / max(n_rows, 1), p, 0.0, n_rows))
        if present.size < MIN_VALUES:
            continue
        if large:
            d = sketch.wasserstein(present)
            out.append(TestResult(name, FIELD_OF[name], "wasserstein_norm", d, None, cfg["numeric_distance"], present.size))
        else:
            d, p = sketch.ks(present)
            out.append(TestResult(name, FIELD_OF[name], "ks", d, p, 0.0, present.size))
    return out


def _categorical_tests(ref: DriftReference, table: np.ndarray, large: bool) -> list[TestResult]:
    out = []
    cfg = ref.settings
    n_rows = table.shape[0]
    for field in CATEGORICAL:
        if not ref.monitored(field):
            continue
        cref = ref.categorical[field]
        buckets = table[:, COL[f"{field}_bucket"]]
        present = buckets[~np.isnan(buckets)].astype(np.int64)
        k_missing = n_rows - present.size
        p = share_excess(k_missing, n_rows, 1.0 - cref.present_share, cfg["share_margin"])
        out.append(TestResult(f"{field}_missing", field, "binomial_excess", k_missing / max(n_rows, 1), p, 0.0, n_rows))
        if present.size < MIN_VALUES:
            continue
        unseen = table[:, COL[f"{field}_unseen"]]
        unseen = unseen[~np.isnan(unseen)]
        k_unseen = int(unseen.sum())
        p = share_excess(k_unseen, unseen.size, cref.expected_unseen_share, cfg["share_margin"])
        out.append(TestResult(f"{field}_unseen", field, "binomial_excess", k_unseen / unseen.size, p, 0.0, unseen.size))
        levels = tuple(int(k) for k in cref.coarse)
        k = max(levels) if large else _level(levels, present.size / 10, max(levels))
        counts = np.bincount(present % k, minlength=k)
        ref_share = np.asarray(cref.coarse[str(k)])
        if large:
            d = js_distance(counts, ref_share)
            out.append(TestResult(field, field, "jensen_shannon", d, None, cfg["categorical_distance"], present.size))
        else:
            stat, p = chi_square(counts, ref_share)
            out.append(TestResult(field, field, f"chi_square_{k}_buckets", stat, p, 0.0, present.size))
    return out


def _text_test(ref: DriftReference, tokens: np.ndarray, large: bool) -> list[TestResult]:
    total = tokens.sum(axis=1, keepdims=True).astype("float64")
    rows = total[:, 0] > 0
    n = int(rows.sum())
    if n < MIN_VALUES:
        return []
    if large:
        d = js_distance(tokens[rows].sum(axis=0), np.asarray(ref.text.pooled))
        return [TestResult("title_tokens", "title", "jensen_shannon", d, None, ref.settings["categorical_distance"], n)]
    k = _level(TEXT_LEVELS, n / 3, TEXT_LEVELS[-1])
    folded = tokens[rows].astype("float64")
    if k < folded.shape[1]:
        folded = folded.reshape(n, -1, k).sum(axis=1)
    mean = (folded / total[rows]).mean(axis=0)
    lv = ref.text_level(k)
    keep = lv["var"] > 0
    t = float(np.sum(n * (mean[keep] - lv["mean"][keep]) ** 2 / lv["var"][keep]))
    p = float(stats.chi2.sf(t / lv["scale"], lv["dof"]))
    return [TestResult("title_tokens", "title", f"scaled_chi_square_{k}_buckets", t, p, 0.0, n)]


def _confidence_tests(ref: DriftReference, conf: np.ndarray) -> list[TestResult]:
    conf = conf[np.isfinite(conf)]
    cref = ref.confidence
    if conf.size < MIN_VALUES or not cref.sketch.usable:
        return []
    margin = ref.settings["confidence_margin"]
    se = max(cref.sketch.std, 1e-6) / np.sqrt(conf.size)
    z = (conf.mean() - (cref.sketch.mean - margin)) / se
    low_k = int(np.sum(conf < cref.low_threshold))
    return [
        TestResult("confidence_mean", "confidence", "z_drop", float(conf.mean()), float(stats.norm.cdf(z)), 0.0,
                   conf.size, kind="concept"),
        TestResult("low_confidence_share", "confidence", "binomial_excess", low_k / conf.size,
                   share_excess(low_k, conf.size, cref.low_share, ref.settings["share_margin"]), 0.0, conf.size,
                   kind="concept"),
    ]


def run_tests(ref: DriftReference, table: np.ndarray, tokens: np.ndarray, conf: np.ndarray | None) -> list[TestResult]:
    """All tests for one batch/window, decided after Bonferroni across the p-value tests."""
    large = table.shape[0] > ref.settings["large_n"]
    results = [
        *_numeric_tests(ref, table, large),
        *_categorical_tests(ref, table, large),
        *_text_test(ref, tokens, large),
        *(_confidence_tests(ref, conf) if conf is not None else []),
    ]
    m = sum(r.p_value is not None for r in results)
    alpha = ref.settings["alpha"] / max(m, 1)
    log_alpha = np.log(alpha)
    for r in results:
        if r.p_value is not None:
            r.threshold = alpha
            r.drifted = r.p_value <= alpha
            r.severity = float(np.clip(np.log(max(r.p_value, 1e-300)) / log_alpha, 0.0, 2.0) / 2.0)
        else:
            r.drifted = r.statistic > r.threshold
            r.severity = float(np.clip(r.statistic / r.threshold, 0.0, 2.0) / 2.0)
    return results


def estimated_accuracy(ref: DriftReference, conf: np.ndarray | None) -> float:
    """CBPE: expected accuracy = mean calibrated probability of the predicted class."""
    if conf is None:
        return float("nan")
    conf = conf[np.isfinite(conf)]
    if conf.size == 0:
        return float("nan")
    cref = ref.confidence
    if len(cref.calib_conf) >= 2:
        return float(np.mean(np.interp(conf, cref.calib_conf, cref.calib_acc)))
    return float(conf.mean())


__all__ = ["CATEGORICAL_LEVELS", "TestResult", "estimated_accuracy", "run_tests"]
