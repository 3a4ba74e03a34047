"""``DriftReference``: training-time statistics stored in the artifact as plain JSON.

No pickled objects: the reference is lists, floats and base64 bitmaps, so it can be read by
any process (serving, Spark, the drift report) and diffed between model versions.
Seen-value sets are murmurhash bitmaps (``features.hashing.hash_buckets``), a few KB each.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold

from features.hashing import hash_buckets
from features.text import normalize_title
from pyfunc_model.drift.calibrate import dispersion_factors
from pyfunc_model.drift.sketch import NumericSketch, decode_bitmap, encode_bitmap
from pyfunc_model.drift.summary import (
    CATEGORICAL,
    COL,
    NUMERIC,
    TOKEN_FEATURES,
    RowSummary,
    build_table,
    oov_counts,
    title_token_matrix,
)

SCHEMA_VERSION = 1
CATEGORICAL_LEVELS = (2, 4, 8, 16, 32, 64)
TEXT_LEVELS = (16, 64, 256)
#: Fields whose training coverage is below this are not monitored (the model cannot rely on them).
MIN_PRESENT_SHARE = 0.01

DEFAULT_SETTINGS: dict[str, float] = {
    "alpha": 0.01,  # family-wise error per tested batch/window (Bonferroni across tests)
    "large_n": 1000,  # above this many rows: distances instead of p-values (Evidently's rule)
    "numeric_distance": 0.1,  # normalised Wasserstein threshold
    "categorical_distance": 0.1,  # Jensen-Shannon distance threshold
    "population_rows": 2000,  # distinct listings assumed behind live traffic (see checks.inflation)
    "share_margin": 0.05,  # unseen/missing share may exceed its expectation by this much
    "confidence_margin": 0.05,  # tolerated drop of the mean max-probability
    "low_confidence_quantile": 0.2,  # validation quantile defining "low confidence"
    "price_far_factor": 5.0,  # OOD when price > factor x p99.9 or < p0.1 / factor
    "garbled_letter_share": 0.3,  # OOD title when fewer letters than this among visible chars
    "garbled_oov_rate": 0.75,  # OOD title when at least this share of tokens is unseen
}


@dataclass
class CategoricalRef:
    """Seen-set bitmap, coverage, out-of-fold unseen share and coarse bucket shares."""

    n_bits: int
    seen: str
    present_share: float
    expected_unseen_share: float
    coarse: dict[str, list[float]]


@dataclass
class TextRef:
    """Token vocabulary bitmap and the row-level token-bucket statistics per histogram width."""

    n_features: int
    seen: str
    expected_oov_rate: float
    pooled: list[float]
    levels: dict[str, dict[str, Any]]


@dataclass
class ConfidenceRef:
    """Validation max-probabilities and, if labels were given, a reliability curve for CBPE."""

    sketch: NumericSketch
    low_threshold: float
    low_share: float
    calib_conf: list[float] = field(default_factory=list)
    calib_acc: list[float] = field(default_factory=list)
    val_accuracy: float | None = None


@dataclass
class DriftReference:
    """Everything the monitor and the OOD rules need, built once from training data."""

    n_rows: int
    numeric: dict[str, NumericSketch]
    categorical: dict[str, CategoricalRef]
    text: TextRef
    confidence: ConfidenceRef
    subcategory_price: dict[str, Any]
    price_range: list[float]
    settings: dict[str, float]
    dispersion: dict[str, float] = field(default_factory=dict)
    class_prior: dict[str, float] | None = None
    predicted_mix: dict[str, float] | None = None
    version: int = SCHEMA_VERSION
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the decoded-bitmap cache is left out)."""
        out = dataclasses.asdict(self)
        out.pop("_cache")
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DriftReference:
        if int(d.get("version", 0)) != SCHEMA_VERSION:
            raise ValueError(f"unsupported DriftReference version {d.get('version')!r}, expected {SCHEMA_VERSION}")
        conf = dict(d["confidence"])
        conf["sketch"] = NumericSketch(**conf["sketch"])
        return cls(
            n_rows=int(d["n_rows"]),
            numeric={k: NumericSketch(**v) for k, v in d["numeric"].items()},
            categorical={k: CategoricalRef(**v) for k, v in d["categorical"].items()},
            text=TextRef(**d["text"]),
            confidence=ConfidenceRef(**conf),
            subcategory_price=dict(d["subcategory_price"]),
            price_range=list(d["price_range"]),
            settings={**DEFAULT_SETTINGS, **d.get("settings", {})},
            dispersion={k: float(v) for k, v in d.get("dispersion", {}).items()},
            class_prior=d.get("class_prior"),
            predicted_mix=d.get("predicted_mix"),
        )

    def monitored(self, field_name: str) -> bool:
        """True when training data had this categorical field often enough to judge it."""
        return self.categorical[field_name].present_share >= MIN_PRESENT_SHARE

    def seen_mask(self, field_name: str) -> np.ndarray | None:
        if not self.monitored(field_name):
            return None
        key = f"seen:{field_name}"
        if key not in self._cache:
            ref = self.categorical[field_name]
            self._cache[key] = decode_bitmap(ref.seen, ref.n_bits)
        return self._cache[key]

    def token_seen_mask(self) -> np.ndarray:
        if "tokens" not in self._cache:
            self._cache["tokens"] = decode_bitmap(self.text.seen, self.text.n_features)
        return self._cache["tokens"]

    def subcategory_price_lookup(self) -> tuple[np.ndarray, np.ndarray, float]:
        if "subprice" not in self._cache:
            sp = self.subcategory_price
            self._cache["subprice"] = (
                np.asarray(sp["buckets"], dtype="float64"),
                np.asarray(sp["median"], dtype="float64"),
                float(sp["global"]),
            )
        return self._cache["subprice"]

    def text_level(self, k: int) -> dict[str, np.ndarray | float]:
        key = f"text:{k}"
        if key not in self._cache:
            lv = self.text.levels[str(k)]
            self._cache[key] = {
                "mean": np.asarray(lv["mean"]),
                "var": np.asarray(lv["var"]),
                "scale": float(lv["scale"]),
                "dof": float(lv["dof"]),
            }
        return self._cache[key]


def _n_bits(n_distinct: int) -> int:
    """Bitmap size: ~16 bits per distinct value keeps hash collisions near 6 %."""
    return int(min(max(1 << int(np.ceil(np.log2(max(16 * n_distinct, 1)))), 1024), 2**17))


def _coarse_shares(buckets: np.ndarray, n_bits: int) -> dict[str, list[float]]:
    present = buckets[~np.isnan(buckets)].astype(np.int64)
    out = {}
    for k in CATEGORICAL_LEVELS:
        if k > n_bits:
            continue
        counts = np.bincount(present % k, minlength=k).astype("float64")
        out[str(k)] = (counts / max(counts.sum(), 1.0)).tolist()
    return out


def _text_levels(tokens: np.ndarray) -> dict[str, dict[str, Any]]:
    """Row-level mean/variance of token-bucket shares and a Satterthwaite fit of the sum of
    squared z-scores (bucket shares are correlated, so it is a scaled, not a plain, chi-square)."""
    out: dict[str, dict[str, Any]] = {}
    total = tokens.sum(axis=1, keepdims=True).astype("float64")
    for k in TEXT_LEVELS:
        folded = tokens.reshape(tokens.shape[0], -1, k).sum(axis=1) if k < tokens.shape[1] else tokens
        shares = np.divide(folded, total, out=np.zeros(folded.shape), where=total > 0)
        mean = shares.mean(axis=0)
        var = shares.var(axis=0)
        keep = var > 1e-12
        corr = np.corrcoef(shares[:, keep], rowvar=False) if keep.sum() > 1 else np.ones((1, 1))
        eig = np.clip(np.linalg.eigvalsh(np.atleast_2d(corr)), 0, None)
        scale = float((eig**2).sum() / max(eig.sum(), 1e-12))
        dof = float(eig.sum() ** 2 / max((eig**2).sum(), 1e-12))
        out[str(k)] = {"mean": mean.tolist(), "var": np.where(keep, var, 0.0).tolist(), "scale": scale, "dof": dof}
    return out


def _confidence_ref(conf: np.ndarray, correct: np.ndarray | None, low_q: float) -> ConfidenceRef:
    conf = np.asarray(conf, dtype="float64")
    conf = conf[np.isfinite(conf)]
    low = float(np.quantile(conf, low_q)) if conf.size else 0.0
    ref = ConfidenceRef(
        sketch=NumericSketch.from_values(conf),
        low_threshold=low,
        low_share=float(np.mean(conf < low)) if conf.size else 0.0,
    )
    if correct is not None and conf.size:
        correct = np.asarray(correct, dtype="float64")[: conf.size]
        order = np.argsort(conf)
        chunks = [c for c in np.array_split(order, min(10, max(conf.size // 30, 1))) if c.size]
        ref.calib_conf = [float(conf[c].mean()) for c in chunks]
        ref.calib_acc = [float(correct[c].mean()) for c in chunks]
        ref.val_accuracy = float(correct.mean())
    return ref


def build_reference(
    prepared: pd.DataFrame,
    val_confidence: np.ndarray,
    val_correct: np.ndarray | None = None,
    class_prior: dict[str, float] | None = None,
    predicted_mix: dict[str, float] | None = None,
    *,
    n_folds: int = 5,
    settings: dict[str, float] | None = None,
) -> DriftReference:
    """Reference statistics from the prepared training frame and validation confidences.

    Unseen-value shares and token OOV rates are estimated out of fold (folds grouped by title),
    because in-sample every value is "seen" and new data never looks like that.
    """
    cfg = {**DEFAULT_SETTINGS, **(settings or {})}
    prepared = prepared.reset_index(drop=True)
    n = len(prepared)
    n_bits = {f: _n_bits(int(prepared[f].nunique(dropna=True)) if f in prepared.columns else 0) for f in CATEGORICAL}
    buckets = {
        f: hash_buckets(prepared[f] if f in prepared.columns else pd.Series([None] * n, dtype=object), n_bits[f])
        for f in CATEGORICAL
    }
    tokens = title_token_matrix(prepared["title"].fillna("").astype(str))
    token_seen = np.asarray(tokens.sum(axis=0)).ravel() > 0

    def seen_from(rows: np.ndarray) -> dict[str, np.ndarray]:
        out = {}
        for f in CATEGORICAL:
            mask = np.zeros(n_bits[f], dtype=bool)
            b = buckets[f][rows]
            mask[b[~np.isnan(b)].astype(np.int64)] = True
            out[f] = mask
        return out

    log_price = np.log1p(np.clip(prepared["price"].to_numpy(dtype="float64"), 0, None))
    sub = pd.Series(buckets["subcategory"])
    med = pd.Series(log_price).groupby(sub).median().dropna()
    global_median = float(np.nanmedian(log_price)) if np.isfinite(log_price).any() else 0.0
    subprice = (med.index.to_numpy(dtype="float64"), med.to_numpy(dtype="float64"), global_median)

    summary = build_table(prepared, n_bits, seen_from(np.arange(n)), token_seen, subprice)
    _cross_fit(summary, prepared, buckets, tokens, seen_from, n_folds)
    levels = {f: [k for k in CATEGORICAL_LEVELS if k <= n_bits[f]] for f in CATEGORICAL}
    dispersion = dispersion_factors(summary, normalize_title(prepared["title"]).to_numpy(), levels, TEXT_LEVELS)

    present = {f: float(np.mean(~np.isnan(buckets[f]))) if n else 0.0 for f in CATEGORICAL}
    categorical = {
        f: CategoricalRef(
            n_bits=n_bits[f],
            seen=encode_bitmap(seen_from(np.arange(n))[f]),
            present_share=present[f],
            expected_unseen_share=float(np.nanmean(summary.col(f"{f}_unseen"))) if present[f] > 0 else 0.0,
            coarse=_coarse_shares(buckets[f], n_bits[f]),
        )
        for f in CATEGORICAL
    }
    hist = summary.tokens.astype("float64")
    text = TextRef(
        n_features=TOKEN_FEATURES,
        seen=encode_bitmap(token_seen),
        expected_oov_rate=float(np.nanmean(summary.col("title_oov_rate"))),
        pooled=(hist.sum(axis=0) / max(hist.sum(), 1.0)).tolist(),
        levels=_text_levels(summary.tokens),
    )
    price = prepared["price"].to_numpy(dtype="float64")
    price = price[np.isfinite(price) & (price > 0)]
    return DriftReference(
        n_rows=n,
        numeric={name: NumericSketch.from_values(summary.col(name)) for name in NUMERIC},
        categorical=categorical,
        text=text,
        confidence=_confidence_ref(val_confidence, val_correct, cfg["low_confidence_quantile"]),
        subcategory_price={"buckets": subprice[0].tolist(), "median": subprice[1].tolist(), "global": global_median},
        price_range=np.quantile(price, [0.001, 0.999]).tolist() if price.size else [0.0, float("inf")],
        settings=cfg,
        dispersion=dispersion,
        class_prior=class_prior,
        predicted_mix=predicted_mix,
    )


def _cross_fit(
    summary: RowSummary,
    prepared: pd.DataFrame,
    buckets: dict[str, np.ndarray],
    tokens: Any,
    seen_from: Any,
    n_folds: int,
) -> None:
    """Overwrite unseen flags and OOV rates with out-of-fold values (seen sets from other folds)."""
    groups = normalize_title(prepared["title"]).to_numpy()
    folds = min(n_folds, len(np.unique(groups)))
    if folds < 2:
        return
    for train_idx, test_idx in GroupKFold(n_splits=folds).split(prepared, groups=groups):
        seen = seen_from(train_idx)
        for f in CATEGORICAL:
            b = buckets[f][test_idx]
            flag = np.full(b.size, np.nan)
            ok = ~np.isnan(b)
            flag[ok] = ~seen[f][b[ok].astype(np.int64)]
            summary.table[test_idx, COL[f"{f}_unseen"]] = flag
        part = tokens[test_idx]
        token_seen = np.asarray(tokens[train_idx].sum(axis=0)).ravel() > 0
        n_tok = np.asarray(part.sum(axis=1)).ravel()
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(n_tok > 0, oov_counts(part, token_seen) / n_tok, np.nan)
        summary.table[test_idx, COL["title_oov_rate"]] = rate
