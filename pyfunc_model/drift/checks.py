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
from scipy import special

from pyfunc_model.drift.reference import TEXT_LEVELS, DriftReference
from pyfunc_model.drift.sketch import chi_square, js_distance, share_excess
from pyfunc_model.drift.summary import CATEGORICAL, COL, token_shares

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
#: Only an increase matters (and out-of-fold estimates are slightly pessimistic on purpose).
ONE_SIDED = ("title_oov_rate",)
MIN_VALUES = 10


@dataclass
class CheckResult:
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


def inflation(ref: DriftReference, key: str, n: float, n_ref: float | None = None) -> float:
    """Variance of (sample - reference) relative to i.i.d. rows tested against a known truth.

    ``deff * (1 + n / N_ref + n / N_pop)``: clustering (``deff``, measured on training splits),
    the reference's own sampling error, and the offset shared by every window drawn from the same
    finite set of live listings (``population_rows``). Without the last term, windows of ~1000
    rows from a catalogue of a few thousand listings raise alarms on ordinary traffic.
    """
    n_ref = ref.n_rows if n_ref is None else n_ref
    deff = ref.dispersion.get(key, 1.0)
    return deff * (1.0 + n / max(n_ref, 1.0) + n / ref.settings["population_rows"])


def _level(levels: tuple[int, ...], target: float, available: int) -> int:
    ok = [k for k in levels if k <= max(target, levels[0]) and k <= available]
    return max(ok) if ok else levels[0]


def _numeric_tests(ref: DriftReference, table: np.ndarray, large: bool) -> list[CheckResult]:
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
            out.append(CheckResult(f"{name}_missing", name, "binomial_excess", k / max(n_rows, 1), p, 0.0, n_rows))
        if present.size < MIN_VALUES:
            continue
        if large:
            d = sketch.wasserstein(present, "greater" if name in ONE_SIDED else "two-sided")
            thr = cfg["numeric_distance"]
            out.append(CheckResult(name, FIELD_OF[name], "wasserstein_norm", d, None, thr, present.size))
        else:
            n_eff = present.size / inflation(ref, name, present.size, ref.n_rows * (1.0 - sketch.missing_share))
            d, p = sketch.ks(present, "greater" if name in ONE_SIDED else "two-sided", n_eff=n_eff)
            out.append(CheckResult(name, FIELD_OF[name], "ks", d, p, 0.0, present.size))
    return out


def _categorical_tests(ref: DriftReference, table: np.ndarray, large: bool) -> list[CheckResult]:
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
        share = k_missing / max(n_rows, 1)
        out.append(CheckResult(f"{field}_missing", field, "binomial_excess", share, p, 0.0, n_rows))
        if present.size < MIN_VALUES:
            continue
        unseen = table[:, COL[f"{field}_unseen"]]
        unseen = unseen[~np.isnan(unseen)]
        k_unseen = int(unseen.sum())
        p = share_excess(k_unseen, unseen.size, cref.expected_unseen_share, cfg["share_margin"])
        share = k_unseen / unseen.size
        out.append(CheckResult(f"{field}_unseen", field, "binomial_excess", share, p, 0.0, unseen.size))
        levels = tuple(int(k) for k in cref.coarse)
        k = max(levels) if large else _level(levels, present.size / 6, max(levels))  # >= ~6 rows per cell
        counts = np.bincount(present % k, minlength=k)
        ref_share = np.asarray(cref.coarse[str(k)])
        if large:
            d = js_distance(counts, ref_share)
            out.append(CheckResult(field, field, "jensen_shannon", d, None, cfg["categorical_distance"], present.size))
        else:
            stat, p = chi_square(counts, ref_share, inflation(ref, f"{field}:{k}", present.size))
            out.append(CheckResult(field, field, f"chi_square_{k}_buckets", stat, p, 0.0, present.size))
    return out


def _text_test(ref: DriftReference, tokens: np.ndarray, large: bool) -> list[CheckResult]:
    n = int(np.count_nonzero(tokens.any(axis=1)))
    if n < MIN_VALUES:
        return []
    if large:
        d = js_distance(tokens.sum(axis=0), np.asarray(ref.text.pooled))
        thr = ref.settings["categorical_distance"]
        return [CheckResult("title_tokens", "title", "jensen_shannon", d, None, thr, n)]
    k = _level(TEXT_LEVELS, n / 3, TEXT_LEVELS[-1])
    shares, _ = token_shares(tokens, k)
    lv = ref.text_level(k)
    keep = lv["var"] > 0
    t = float(np.sum(n * (shares.mean(axis=0)[keep] - lv["mean"][keep]) ** 2 / lv["var"][keep]))
    t /= inflation(ref, f"title_tokens:{k}", n)
    p = float(special.chdtrc(lv["dof"], t / lv["scale"]))
    return [CheckResult("title_tokens", "title", f"scaled_chi_square_{k}_buckets", t, p, 0.0, n)]


def _confidence_tests(ref: DriftReference, conf: np.ndarray) -> list[CheckResult]:
    conf = conf[np.isfinite(conf)]
    cref = ref.confidence
    if conf.size < MIN_VALUES or not cref.sketch.usable:
        return []
    margin = ref.settings["confidence_margin"]
    se = max(cref.sketch.std, 1e-6) / np.sqrt(conf.size)
    z = (conf.mean() - (cref.sketch.mean - margin)) / se
    low_k = int(np.sum(conf < cref.low_threshold))
    return [
        CheckResult(
            "confidence_mean",
            "confidence",
            "z_drop",
            float(conf.mean()),
            float(special.ndtr(z)),
            0.0,
            conf.size,
            kind="concept",
        ),
        CheckResult(
            "low_confidence_share",
            "confidence",
            "binomial_excess",
            low_k / conf.size,
            share_excess(low_k, conf.size, cref.low_share, ref.settings["share_margin"]),
            0.0,
            conf.size,
            kind="concept",
        ),
    ]


def run_tests(
    ref: DriftReference, table: np.ndarray, tokens: np.ndarray, conf: np.ndarray | None, alpha_share: float = 1.0
) -> list[CheckResult]:
    """All tests for one batch/window, decided after Bonferroni across the p-value tests.

    ``alpha_share`` splits the family-wise alpha further (e.g. 0.5 when two window scales run).
    """
    large = table.shape[0] > ref.settings["large_n"]
    results = [
        *_numeric_tests(ref, table, large),
        *_categorical_tests(ref, table, large),
        *_text_test(ref, tokens, large),
        *(_confidence_tests(ref, conf) if conf is not None else []),
    ]
    m = sum(r.p_value is not None for r in results)
    alpha = ref.settings["alpha"] * alpha_share / max(m, 1)
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


__all__ = ["CheckResult", "estimated_accuracy", "inflation", "run_tests"]
