"""Compact, JSON-friendly summaries of reference distributions and the tests run against them.

Everything here works on numpy arrays only, so a reference stored as plain lists can be tested
against a batch without keeping any training rows around.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from scipy import special

#: Quantile levels of the Wasserstein sketch (midpoints, so both tails count equally).
QUANTILE_LEVELS = (np.arange(100) + 0.5) / 100.0


def encode_bitmap(mask: np.ndarray) -> str:
    """Boolean array -> base64 of its packed bits (8x smaller than a list of ids in JSON)."""
    return base64.b64encode(np.packbits(mask.astype(bool)).tobytes()).decode("ascii")


def decode_bitmap(text: str, n_bits: int) -> np.ndarray:
    """Inverse of :func:`encode_bitmap`."""
    raw = np.frombuffer(base64.b64decode(text.encode("ascii")), dtype=np.uint8)
    return np.unpackbits(raw)[:n_bits].astype(bool)


@dataclass
class NumericSketch:
    """Quantile sketch of one numeric feature: exact CDF at up to 256 edges plus a quantile grid.

    ``edges``/``cdf``/``cdf_left`` (CDF at and just below each edge) give the KS test exactly at
    mass points such as ratings or prices ending in 99, and the mid-rank of any value for the
    rank test; ``quantiles`` give the Wasserstein distance for large samples.
    """

    edges: list[float]
    cdf: list[float]
    cdf_left: list[float]
    quantiles: list[float]
    mean: float
    std: float
    missing_share: float
    #: mean and variance of the reference's own mid-ranks (1/2 and 1/12 without ties)
    rank_mean: float = 0.5
    rank_var: float = 1.0 / 12.0

    @classmethod
    def from_values(cls, values: np.ndarray, n_edges: int = 256) -> NumericSketch:
        values = np.asarray(values, dtype="float64")
        present = values[np.isfinite(values)]
        missing = 1.0 - present.size / max(values.size, 1)
        if present.size == 0:
            return cls([], [], [], [], float("nan"), float("nan"), missing)
        ordered = np.sort(present)
        edges = np.unique(np.quantile(ordered, np.linspace(0.0, 1.0, n_edges + 1)))
        sketch = cls(
            edges=edges.tolist(),
            cdf=(np.searchsorted(ordered, edges, side="right") / ordered.size).tolist(),
            cdf_left=(np.searchsorted(ordered, edges, side="left") / ordered.size).tolist(),
            quantiles=np.quantile(ordered, QUANTILE_LEVELS).tolist(),
            mean=float(present.mean()),
            std=float(present.std()),
            missing_share=float(missing),
        )
        ranks = sketch.mid_ranks(present)
        sketch.rank_mean, sketch.rank_var = float(ranks.mean()), float(max(ranks.var(), 1e-9))
        return sketch

    @property
    def usable(self) -> bool:
        return len(self.edges) > 1

    @cached_property
    def _arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(edges, cdf, cdf_left, mid-rank at each edge) as arrays, converted once per process."""
        edges, cdf, left = np.asarray(self.edges), np.asarray(self.cdf), np.asarray(self.cdf_left)
        return edges, cdf, left, (cdf + left) / 2.0

    def mid_ranks(self, values: np.ndarray) -> np.ndarray:
        """Reference mid-rank of each value in [0, 1] (ties count half), interpolated between edges."""
        edges, _, _, mid = self._arrays
        return np.interp(values, edges, mid)

    def rank_shift(self, values: np.ndarray, one_sided: bool = False) -> tuple[float, float]:
        """(z, p) of the sample's mean reference mid-rank: a Wilcoxon-type location test against the
        reference, as for i.i.d. rows (the calibration absorbs clustering). Ranks make it immune to
        one absurd value and stronger than a mean test on heavy-tailed residuals."""
        z = float((self.mid_ranks(values).mean() - self.rank_mean) / np.sqrt(self.rank_var / values.size))
        p = special.ndtr(-z) if one_sided else 2.0 * special.ndtr(-abs(z))
        return z, float(p)

    def value_positions(self, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """What the bulk tests read of each value: (present, reference mid-rank, edges below it,
        edges at or below it); 0 where absent. A value drawn into many chunks is placed once."""
        edges = self._arrays[0]
        present = np.isfinite(values)
        filled = np.where(present, values, 0.0)
        ranks = np.where(present, self.mid_ranks(filled), 0.0)
        below = np.searchsorted(edges, filled, side="left")
        inside = below < edges.size
        upto = below.copy()  # one more where the value is an edge
        upto[inside] += edges[below[inside]] == filled[inside]
        return present, ranks, below, upto

    def rank_shift_rows(
        self, present: np.ndarray, ranks: np.ndarray, one_sided: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`rank_shift` of every row at once (rows: chunks; ``present``/``ranks``: each value's
        :meth:`value_positions`, gathered); for the calibration's thousands of null chunks."""
        k = present.sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (ranks.sum(axis=1) / k - self.rank_mean) / np.sqrt(self.rank_var / k)
        return z, special.ndtr(-z) if one_sided else 2.0 * special.ndtr(-np.abs(z))

    def ks_rows(
        self, present: np.ndarray, below_pos: np.ndarray, upto_pos: np.ndarray, alternative: str = "two-sided"
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`ks` of every row at once, from each value's :meth:`value_positions`. A value lies
        at or below edge ``e`` exactly when at most ``e`` edges lie below it, so per-row counts
        come from the positions and a cumulative count."""
        edges, cdf, left, _ = self._arrays
        k = present.sum(axis=1)
        m = edges.size + 1
        row = np.broadcast_to(np.arange(present.shape[0])[:, None], present.shape)[present]

        def counts(pos: np.ndarray) -> np.ndarray:
            per_row = np.bincount(row * m + pos[present], minlength=present.shape[0] * m).reshape(-1, m)
            return np.cumsum(per_row, axis=1)[:, :-1]

        with np.errstate(divide="ignore", invalid="ignore"):
            at = cdf - counts(below_pos) / k[:, None]  # values <= edge
            below = left - counts(upto_pos) / k[:, None]  # values < edge
        if alternative == "greater":
            d = np.maximum(np.maximum(at.max(axis=1), below.max(axis=1)), 0.0)
            return d, ks_pvalues(d, k, one_sided=True)
        d = np.maximum(np.abs(at).max(axis=1), np.abs(below).max(axis=1))
        return d, ks_pvalues(d, k)

    def ks(self, values: np.ndarray, alternative: str = "two-sided") -> tuple[float, float]:
        """KS statistic evaluated at and just below the stored edges, and its p-value
        (conservative: a sup over fewer points, and KS is conservative for discrete data).

        ``alternative="greater"`` tests only for values larger than the reference (e.g. OOV rate).
        """
        n = values.size
        edges, cdf, left, _ = self._arrays
        ordered = np.sort(values)
        at = cdf - np.searchsorted(ordered, edges, side="right") / n
        below = left - np.searchsorted(ordered, edges, side="left") / n
        if alternative == "greater":
            d = float(max(np.max(at), np.max(below), 0.0))
            return d, ks_pvalue(d, n, one_sided=True)
        d = float(max(np.max(np.abs(at)), np.max(np.abs(below))))
        return d, ks_pvalue(d, n)

    @cached_property
    def wasserstein_noise(self) -> float:
        """``J / std`` with ``J = integral of sqrt(F (1 - F)) dx`` over the reference: n values
        drawn from the reference itself lie at a normalised Wasserstein distance of about
        ``0.8 J / (std sqrt(n))`` from it (del Barrio, Gine and Matran 1999), so a sample of a few
        hundred values sits near a fixed threshold of 0.1 by chance alone."""
        q = np.asarray(self.quantiles)
        if q.size < 2 or not self.std > 0:
            return 0.0
        u = np.asarray(QUANTILE_LEVELS)
        mid = (u[1:] + u[:-1]) / 2.0
        return float(np.sum(np.sqrt(mid * (1.0 - mid)) * np.diff(q)) / self.std)

    def wasserstein(self, values: np.ndarray, alternative: str = "two-sided") -> float:
        """Wasserstein-1 distance via the quantile functions, divided by the reference std;
        ``alternative="greater"`` counts only where the sample lies above the reference."""
        diff = np.quantile(values, QUANTILE_LEVELS) - np.asarray(self.quantiles)
        if alternative == "greater":
            diff = np.clip(diff, 0.0, None)
        scale = self.std if self.std > 0 else 1.0
        return float(np.mean(np.abs(diff)) / scale)


#: Samples from this size on take Stephens' KS p-value instead of the exact Smirnov one: from 30
#: values it is within about 1 % of the exact p-value down to 1e-4 (0.02 on the normal-score scale
#: the verdict reads), for 0.3 us instead of 40 us per test.
KS_ASYMPTOTIC_N = 30


def _smirnov_p(d: Any, n: Any, one_sided: bool) -> Any:
    p = special.smirnov(n, d)
    return p if one_sided else np.minimum(1.0, 2.0 * p)


def _stephens_p(d: Any, n: Any, one_sided: bool) -> Any:
    lam = d * (np.sqrt(n) + 0.12 + 0.11 / np.sqrt(n))
    return np.minimum(1.0, np.exp(-2.0 * lam * lam)) if one_sided else special.kolmogorov(lam)


def ks_pvalue(d: float, n: int, one_sided: bool = False) -> float:
    """KS p-value: exact Smirnov for small n, Stephens' form from :data:`KS_ASYMPTOTIC_N` rows
    (accurate to a few % in the tail and ~100x cheaper than the exact ``kstwo``)."""
    return float(_smirnov_p(d, n, one_sided) if n < KS_ASYMPTOTIC_N else _stephens_p(d, n, one_sided))


def ks_pvalues(d: np.ndarray, n: np.ndarray, one_sided: bool = False) -> np.ndarray:
    """:func:`ks_pvalue` of each (statistic, sample size) pair."""
    out = np.empty(d.shape)
    small = n < KS_ASYMPTOTIC_N
    out[small] = _smirnov_p(d[small], n[small], one_sided)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[~small] = _stephens_p(d[~small], n[~small], one_sided)
    return out


def js_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) between two count or share vectors."""
    p = np.asarray(p, dtype="float64")
    q = np.asarray(q, dtype="float64")
    if p.sum() <= 0 or q.sum() <= 0:
        return 0.0
    from scipy.spatial.distance import jensenshannon

    return float(jensenshannon(p, q, base=2))


def chi_square(counts: np.ndarray, ref_share: np.ndarray, inflation: float = 1.0) -> tuple[float, float]:
    """Pearson chi-square of observed counts against reference shares, divided by ``inflation``
    (reference sampling error and clustering); shares are floored so no cell divides by zero."""
    counts = np.asarray(counts, dtype="float64")
    expected = np.clip(np.asarray(ref_share, dtype="float64"), 1e-6, None)
    expected = expected / expected.sum() * counts.sum()
    stat = float(np.sum((counts - expected) ** 2 / expected)) / inflation
    return stat, float(special.chdtrc(max(counts.size - 1, 1), stat))


def share_excess(k: int, n: int, expected: float, margin: float) -> float:
    """One-sided binomial p-value that a rate exceeds ``expected + margin``.

    The margin keeps large samples from flagging tiny, harmless differences.
    """
    p0 = float(min(max(expected + margin, 1e-6), 1 - 1e-9))
    if n <= 0 or k <= 0:
        return 1.0
    return float(special.bdtrc(k - 1, n, p0))
