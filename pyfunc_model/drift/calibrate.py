"""Dispersion factors: how much more real, clustered data varies than i.i.d. rows would.

Listings come in clusters (colour/size variants share title, brand and price), so a fresh
sample differs from the training sample more than textbook tests assume, and their p-values
would flag ordinary traffic. As NannyML calibrates thresholds on reference chunks, we split the
training rows many times by title group, measure each statistic between the two parts and keep
``observed / expected-under-iid`` (>= 1). The tests divide their statistic by that factor.
"""

from __future__ import annotations

import numpy as np

from pyfunc_model.drift.summary import CATEGORICAL, NUMERIC, RowSummary, token_shares

#: E[n * D**2] of the Kolmogorov distribution (pi**2 / 12) for i.i.d. samples.
KS_MEAN_SQ = np.pi**2 / 12
MAX_FACTOR = 10.0


def _split_masks(groups: np.ndarray, n_splits: int, test_share: float, seed: int) -> list[np.ndarray]:
    codes = np.unique(groups, return_inverse=True)[1]
    rng = np.random.default_rng(seed)
    return [rng.random(codes.max() + 1)[codes] < test_share for _ in range(n_splits)]


def _ks_two_sample(a: np.ndarray, b: np.ndarray) -> float:
    grid = np.concatenate([a, b])
    fa = np.searchsorted(np.sort(a), grid, side="right") / a.size
    fb = np.searchsorted(np.sort(b), grid, side="right") / b.size
    return float(np.max(np.abs(fa - fb)))


def dispersion_factors(
    summary: RowSummary,
    groups: np.ndarray,
    categorical_levels: dict[str, list[int]],
    text_levels: tuple[int, ...],
    n_splits: int = 20,
    test_share: float = 0.2,
    seed: int = 0,
) -> dict[str, float]:
    """``{test key: factor}`` for numeric KS, categorical chi-square and token-share tests."""
    masks = _split_masks(groups, n_splits, test_share, seed)
    ratios: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        ratios.setdefault(key, []).append(value)

    for name in NUMERIC:
        values = summary.col(name)
        for m in masks:
            a, b = values[m], values[~m]
            a, b = a[np.isfinite(a)], b[np.isfinite(b)]
            if a.size >= 30 and b.size >= 30:
                add(name, _ks_two_sample(a, b) ** 2 * (a.size * b.size / (a.size + b.size)) / KS_MEAN_SQ)
    for field in CATEGORICAL:
        buckets = summary.col(f"{field}_bucket")
        present = ~np.isnan(buckets)
        if present.sum() < 60:
            continue
        for k in categorical_levels.get(field, []):
            cells = np.where(present, np.nan_to_num(buckets).astype(np.int64) % k, -1)
            for m in masks:
                ca = np.bincount(cells[m & present], minlength=k).astype("float64")
                cb = np.bincount(cells[~m & present], minlength=k).astype("float64")
                pool = (ca + cb) / (ca.sum() + cb.sum())
                keep = pool > 0
                if keep.sum() < 2 or ca.sum() == 0 or cb.sum() == 0:
                    continue
                diff = ca[keep] / ca.sum() - cb[keep] / cb.sum()
                t = np.sum(diff**2 / pool[keep]) / (1 / ca.sum() + 1 / cb.sum())
                add(f"{field}:{k}", float(t / (keep.sum() - 1)))
    for k in text_levels:
        shares, rows = token_shares(summary.tokens, k)
        var = shares.var(axis=0)
        keep = var > 1e-12
        for m in masks:
            a, b = shares[m[rows]][:, keep], shares[~m[rows]][:, keep]
            t = np.sum((a.mean(axis=0) - b.mean(axis=0)) ** 2 / var[keep]) / (1 / len(a) + 1 / len(b))
            add(f"title_tokens:{k}", float(t / keep.sum()))
    return {key: float(np.clip(np.mean(v), 1.0, MAX_FACTOR)) for key, v in ratios.items()}


__all__ = ["dispersion_factors"]
