"""Two temperatures: rows with a known sub-category and title-only rows are calibrated separately."""

from __future__ import annotations

import numpy as np
import pytest

from pyfunc_model.chain import softmax
from pyfunc_model.temperature import TEMPERATURE_KEY, UNKNOWN_SUBCATEGORY_KEY, row_temperatures
from training.calibration import fit_group_temperatures


def _sample(rng: np.random.Generator, n: int, true_t: float) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(raw / true_t): raw scores that need temperature ``true_t``."""
    raw = rng.normal(0, 3, (n, 5))
    p = softmax(raw, true_t)
    y = np.array([rng.choice(5, p=row) for row in p])
    return raw, y


def test_each_group_gets_its_own_temperature():
    rng = np.random.default_rng(0)
    raw_a, y_a = _sample(rng, 3000, 1.0)
    raw_b, y_b = _sample(rng, 3000, 2.5)  # over-confident scores, as title-only rows are
    known = np.r_[np.ones(3000, bool), np.zeros(3000, bool)]
    t = fit_group_temperatures(np.vstack([raw_a, raw_b]), np.r_[y_a, y_b], known)
    assert t[TEMPERATURE_KEY] == pytest.approx(1.0, abs=0.15)
    assert t[UNKNOWN_SUBCATEGORY_KEY] == pytest.approx(2.5, abs=0.3)


def test_rows_without_shares_use_the_unknown_subcategory_temperature():
    X = np.array([[0.0, 0.2, 0.8], [0.0, np.nan, np.nan]])
    t = row_temperatures(X, column=1, metadata={TEMPERATURE_KEY: 1.5, UNKNOWN_SUBCATEGORY_KEY: 3.0})
    assert t.ravel().tolist() == [1.5, 3.0]
    # a model logged with one temperature uses it everywhere
    assert row_temperatures(X, 1, {TEMPERATURE_KEY: 1.5}).ravel().tolist() == [1.5, 1.5]


def test_a_group_too_small_to_fit_shares_the_overall_temperature():
    rng = np.random.default_rng(1)
    raw, y = _sample(rng, 500, 2.0)
    known = np.zeros(500, bool)
    known[:10] = True
    t = fit_group_temperatures(raw, y, known)
    assert t[TEMPERATURE_KEY] == pytest.approx(2.0, abs=0.4)
