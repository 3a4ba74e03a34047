"""Compact, JSON-friendly summaries of reference distributions and the tests run against them.

Everything here works on numpy arrays only, so a reference stored as plain lists can be tested
against a batch without keeping any training rows around.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import numpy as np
from scipy import stats

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
    """Quantile sketch of one numeric feature: exact CDF at a few edges plus a quantile grid.

    ``edges``/``cdf`` give the binned KS test (exact even with mass points such as ratings or
    prices ending in 99); ``quantiles`` give the Wasserstein distance for large samples.
    """

    edges: list[float]
    cdf: list[float]
    quantiles: list[float]
    mean: float
    std: float
    missing_share: float

    @classmethod
    def from_values(cls, values: np.ndarray, n_edges: int = 64) -> NumericSketch:
        values = np.asarray(values, dtype="float64")
        present = values[np.isfinite(values)]
        missing = 1.0 - present.size / max(values.size, 1)
        if present.size == 0:
            return cls([], [], [], float("nan"), float("nan"), missing)
        edges = np.unique(np.quantile(present, np.linspace(0.0, 1.0, n_edges + 1)))
        cdf = np.searchsorted(np.sort(present), edges, side="right") / present.size
        return cls(
            edges=edges.tolist(),
            cdf=cdf.tolist(),
            quantiles=np.quantile(present, QUANTILE_LEVELS).tolist(),
            mean=float(present.mean()),
            std=float(present.std()),
            missing_share=float(missing),
        )

    @property
    def usable(self) -> bool:
        return len(self.edges) > 1

    def ks(self, values: np.ndarray) -> tuple[float, float]:
        """KS statistic evaluated at the stored edges and its p-value (conservative: a sup over
        fewer points, and KS is conservative for discrete data)."""
        n = values.size
        sample_cdf = np.searchsorted(np.sort(values), np.asarray(self.edges), side="right") / n
        d = float(np.max(np.abs(sample_cdf - np.asarray(self.cdf))))
        return d, float(stats.kstwo.sf(d, n))

    def wasserstein(self, values: np.ndarray) -> float:
        """Wasserstein-1 distance via the quantile functions, divided by the reference std."""
        q = np.quantile(values, QUANTILE_LEVELS)
        scale = self.std if self.std > 0 else 1.0
        return float(np.mean(np.abs(q - np.asarray(self.quantiles))) / scale)

    def psi(self, values: np.ndarray) -> float:
        """Population stability index over the edge bins (reported, not used to decide)."""
        ref = np.diff(np.concatenate([[0.0], self.cdf, [1.0]]))
        cur = np.diff(np.concatenate([[0.0], np.searchsorted(np.sort(values), self.edges, side="right") / values.size, [1.0]]))
        ref, cur = np.clip(ref, 1e-4, None), np.clip(cur, 1e-4, None)
        return float(np.sum((cur - ref) * np.log(cur / ref)))


def js_distance(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) between two count or share vectors."""
    p = np.asarray(p, dtype="float64")
    q = np.asarray(q, dtype="float64")
    if p.sum() <= 0 or q.sum() <= 0:
        return 0.0
    from scipy.spatial.distance import jensenshannon

    return float(jensenshannon(p, q, base=2))


def chi_square(counts: np.ndarray, ref_share: np.ndarray) -> tuple[float, float]:
    """Pearson chi-square of observed counts against reference shares (floored so unseen cells
    cannot divide by zero)."""
    counts = np.asarray(counts, dtype="float64")
    expected = np.clip(np.asarray(ref_share, dtype="float64"), 1e-6, None)
    expected = expected / expected.sum() * counts.sum()
    stat = float(np.sum((counts - expected) ** 2 / expected))
    return stat, float(stats.chi2.sf(stat, max(counts.size - 1, 1)))


def share_excess(k: int, n: int, expected: float, margin: float) -> float:
    """One-sided binomial p-value that a rate exceeds ``expected + margin``.

    The margin keeps large samples from flagging tiny, harmless differences.
    """
    p0 = float(min(max(expected + margin, 1e-6), 1 - 1e-9))
    return float(stats.binom.sf(k - 1, n, p0)) if n > 0 else 1.0
