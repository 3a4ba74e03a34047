"""The building blocks: bitmaps, the quantile sketch's KS test and the dispersion-free nulls."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from pyfunc_model.drift.sketch import NumericSketch, decode_bitmap, encode_bitmap, ks_pvalue, share_excess


def test_bitmap_round_trip_is_compact() -> None:
    mask = np.random.default_rng(0).random(2**16) < 0.05
    text = encode_bitmap(mask)
    assert len(text) < 2**16 / 8 * 1.4
    np.testing.assert_array_equal(decode_bitmap(text, mask.size), mask)


@pytest.mark.parametrize("n", [30, 40, 99, 200, 1000])
@pytest.mark.parametrize("d", [0.05, 0.1, 0.2])
def test_ks_pvalue_matches_scipy(n: int, d: float) -> None:
    exact = stats.kstwo.sf(d, n)  # doubling the one-sided tail is exact enough where decisions happen
    expected = pytest.approx(exact, rel=0.05, abs=1e-6) if exact < 0.1 else pytest.approx(exact, abs=0.1)
    assert ks_pvalue(d, n) == expected
    assert ks_pvalue(d, n, one_sided=True) == pytest.approx(stats.ksone.sf(d, n), rel=0.05, abs=1e-6)


def test_sketch_ks_handles_mass_points_without_false_alarms() -> None:
    rng = np.random.default_rng(1)
    ratings = np.round(rng.uniform(3, 5, size=5000), 1)  # 21 distinct values, heavy ties
    sketch = NumericSketch.from_values(ratings)
    pvalues = [sketch.ks(rng.choice(ratings, 200))[1] for _ in range(200)]
    assert np.mean(np.asarray(pvalues) < 0.05) <= 0.05  # KS is conservative on discrete data
    assert sketch.ks(ratings[:200] + 0.5)[1] < 1e-6


def test_share_excess_tolerates_the_margin_only() -> None:
    assert share_excess(30, 200, 0.10, 0.05) > 0.05  # 15 % observed, 10 % + 5 % tolerated
    assert share_excess(80, 200, 0.10, 0.05) < 1e-10
    assert share_excess(0, 0, 0.1, 0.05) == 1.0
