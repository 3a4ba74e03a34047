"""Auto-accept threshold selection on constructed confidences."""

from __future__ import annotations

import numpy as np
import pytest

from training.review_threshold import ReviewStats, choose_threshold, coverage_at_precision, precision_lower_bound


def test_threshold_is_the_lowest_confidence_keeping_precision_at_target():
    # 50 right answers at 0.99..0.50, then one wrong at 0.45, then 49 right, then wrongs below
    confidence = np.r_[np.linspace(0.99, 0.50, 50), 0.45, np.linspace(0.44, 0.30, 49), np.linspace(0.29, 0.0, 20)]
    correct = np.r_[np.ones(50), 0, np.ones(49), np.zeros(20)].astype(bool)
    t = choose_threshold(confidence, correct, target=0.98, level=0.0)
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
    strict, loose = choose_threshold(confidence, correct, 0.98, 0.0), choose_threshold(confidence, correct, 0.9, 0.0)
    assert loose < strict
    assert ReviewStats.at(loose, confidence, correct).coverage > ReviewStats.at(strict, confidence, correct).coverage
    assert choose_threshold(confidence, np.zeros(2000, dtype=bool)) == 1.0


def test_tied_confidences_are_accepted_together():
    confidence = np.array([0.9, 0.9, 0.9, 0.5, 0.4])
    correct = np.array([True, True, False, False, False])
    # accepting two of the three tied rows is not a threshold anyone can set
    assert choose_threshold(confidence, correct, 0.9, level=0.0) == 1.0
    assert choose_threshold(confidence, correct, 0.6, level=0.0) == pytest.approx(0.9)


def test_coverage_at_precision_ranks_a_better_ordering_higher():
    correct = np.r_[np.ones(90), np.zeros(10)].astype(bool)
    good = np.linspace(1.0, 0.0, 100)  # all right answers on top
    shuffled = np.random.default_rng(1).permutation(good)
    assert coverage_at_precision(good, correct) == pytest.approx(0.91)  # 90 right + 1 wrong: 98.9 %
    assert coverage_at_precision(shuffled, correct) < 0.5
    assert ReviewStats.at(0.5, np.array([np.nan, 0.7]), np.array([True, True])).coverage == 0.5


def test_precision_bound_is_the_exact_binomial_one():
    # n right out of n: the one-sided Clopper-Pearson bound is (1 - level) ** (1 / n)
    assert precision_lower_bound(np.array([149]), np.array([149]), 0.95)[0] == pytest.approx(0.05 ** (1 / 149))
    assert precision_lower_bound(np.array([0]), np.array([10]), 0.9)[0] == 0.0
    observed = precision_lower_bound(np.array([98]), np.array([100]), 0.0)[0]
    assert observed == pytest.approx(0.98)
    assert precision_lower_bound(np.array([98]), np.array([100]), 0.5)[0] < observed
    assert (
        precision_lower_bound(np.array([980]), np.array([1000]), 0.9)[0]
        > precision_lower_bound(np.array([98]), np.array([100]), 0.9)[0]
    )


def test_the_bound_asks_for_more_evidence_before_accepting():
    # 100 right answers on top: 100 % observed, but 100 rows cannot show 98 % at 90 % confidence
    confidence = np.r_[np.linspace(0.99, 0.90, 100), np.linspace(0.5, 0.1, 50)]
    correct = np.r_[np.ones(100), np.zeros(50)].astype(bool)
    observed = ReviewStats.at(choose_threshold(confidence, correct, 0.98, level=0.0), confidence, correct)
    assert observed.coverage * 150 == pytest.approx(102)  # 100 / 102 = 0.9804
    assert choose_threshold(confidence, correct, 0.98, level=0.9) == 1.0
    # 400 right answers do, and the bound then admits fewer wrong ones than the observed precision
    confidence = np.r_[np.linspace(0.99, 0.90, 400), np.linspace(0.5, 0.1, 50)]
    correct = np.r_[np.ones(400), np.zeros(50)].astype(bool)
    bounded = ReviewStats.at(choose_threshold(confidence, correct, 0.98, level=0.9), confidence, correct)
    observed = ReviewStats.at(choose_threshold(confidence, correct, 0.98, level=0.0), confidence, correct)
    assert observed.coverage * 450 == pytest.approx(408)  # 400 / 408 = 0.9804
    assert 400 <= bounded.coverage * 450 < 408
