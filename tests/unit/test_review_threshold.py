"""Auto-accept threshold selection on constructed confidences."""

from __future__ import annotations

import numpy as np
import pytest

from training.review_threshold import ReviewStats, choose_threshold, coverage_at_precision


def test_threshold_is_the_lowest_confidence_keeping_precision_at_target():
    # 50 right answers at 0.99..0.50, then one wrong at 0.45, then 49 right, then wrongs below
    confidence = np.r_[np.linspace(0.99, 0.50, 50), 0.45, np.linspace(0.44, 0.30, 49), np.linspace(0.29, 0.0, 20)]
    correct = np.r_[np.ones(50), 0, np.ones(49), np.zeros(20)].astype(bool)
    t = choose_threshold(confidence, correct, target=0.98)
    stats = ReviewStats.at(t, confidence, correct)
    assert stats.precision >= 0.98
    # top 100: 99 right (0.99); with the first wrong one below, 99/101 = 0.9802 still reaches
    # the target; with the second, 99/102 = 0.971 does not
    assert t == pytest.approx(0.29)
    assert stats.coverage == pytest.approx(101 / 120)


def test_a_lower_target_accepts_more_and_unreachable_target_accepts_nothing_uncertain():
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0, 1, 2000)
    correct = rng.uniform(0, 1, 2000) < confidence  # calibrated by construction
    strict, loose = choose_threshold(confidence, correct, 0.98), choose_threshold(confidence, correct, 0.9)
    assert loose < strict
    assert ReviewStats.at(loose, confidence, correct).coverage > ReviewStats.at(strict, confidence, correct).coverage
    assert choose_threshold(confidence, np.zeros(2000, dtype=bool)) == 1.0


def test_tied_confidences_are_accepted_together():
    confidence = np.array([0.9, 0.9, 0.9, 0.5, 0.4])
    correct = np.array([True, True, False, False, False])
    # accepting two of the three tied rows is not a threshold anyone can set
    assert choose_threshold(confidence, correct, 0.9) == 1.0
    assert choose_threshold(confidence, correct, 0.6) == pytest.approx(0.9)


def test_coverage_at_precision_ranks_a_better_ordering_higher():
    correct = np.r_[np.ones(90), np.zeros(10)].astype(bool)
    good = np.linspace(1.0, 0.0, 100)  # all right answers on top
    shuffled = np.random.default_rng(1).permutation(good)
    assert coverage_at_precision(good, correct) == pytest.approx(0.91)  # 90 right + 1 wrong: 98.9 %
    assert coverage_at_precision(shuffled, correct) < 0.5
    assert ReviewStats.at(0.5, np.array([np.nan, 0.7]), np.array([True, True])).coverage == 0.5
