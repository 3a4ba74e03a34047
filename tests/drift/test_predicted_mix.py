"""The predicted category mix: the primary's predicted classes against the reference rows' of the
same input profile, a concept test (flagged, never a reason to reroute)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.pipeline import ProductFeatures
from pyfunc_model.drift import DriftMonitor, DriftReference
from pyfunc_model.drift.checks import predicted_mix_test
from pyfunc_model.drift.profiles import TITLE_ONLY
from tests.drift.conftest import make_products
from training.drift_reference import build_reference

#: Predicted-class shares of the reference rows: full rows and title-only rows differ (the title
#: alone leans to class 0), as a real model's do.
FULL_MIX = np.array([0.30, 0.25, 0.20, 0.15, 0.07, 0.03])
TITLE_MIX = np.array([0.45, 0.20, 0.15, 0.10, 0.07, 0.03])


@pytest.fixture(scope="module")
def mixed(train_frame: pd.DataFrame) -> DriftReference:
    rng = np.random.default_rng(5)
    conf = rng.beta(8, 2, size=2000)
    full = rng.choice(6, size=2000, p=FULL_MIX)
    title = rng.choice(6, size=2000, p=TITLE_MIX)
    return build_reference(
        train_frame,
        conf,
        rng.random(2000) < conf,
        class_prior={f"c{i}": float(p) for i, p in enumerate(FULL_MIX)},
        val_predicted=full,
        profile_confidence={TITLE_ONLY: (conf, rng.random(2000) < conf, title)},
        calibration_chunks=20,
    )


def _check(reference: DriftReference, rows: pd.DataFrame, predicted: np.ndarray, seed: int = 0) -> object:
    conf = np.random.default_rng(seed).beta(8, 2, size=len(rows))
    return DriftMonitor(reference).check(ProductFeatures.prepare(rows), conf, predicted=predicted)


def test_the_reference_keeps_each_profiles_predicted_counts(mixed: DriftReference) -> None:
    again = DriftReference.from_dict(mixed.to_dict())
    assert sum(again.confidence.predicted_counts) == 2000 and len(again.confidence.predicted_counts) == 6
    title = again.confidence_profiles[TITLE_ONLY].predicted_counts
    assert title is not None and title[0] > again.confidence.predicted_counts[0]


def test_the_p_value_holds_under_the_null(mixed: DriftReference) -> None:
    """Same mix as the reference: p below 5 % in about 5 % of samples, small classes pooled."""
    rng = np.random.default_rng(0)
    for n in (30, 200):
        p = [
            predicted_mix_test(mixed.confidence, rng.choice(6, size=n, p=FULL_MIX), "m")[0].p_value for _ in range(600)
        ]
        assert 0.02 <= float(np.mean(np.asarray(p) < 0.05)) <= 0.09, n


def test_a_batch_mixed_as_the_reference_is_not_flagged_and_a_skewed_one_is(mixed: DriftReference) -> None:
    rng = np.random.default_rng(1)
    rows = make_products(200, seed=11)
    same = _check(mixed, rows, rng.choice(6, size=200, p=FULL_MIX))
    assert not same.details["tests"]["predicted:category_mix"]["drifted"]
    skewed_mix = rng.choice(6, size=200, p=FULL_MIX)
    skewed_mix[:70] = 5  # a third of the batch from the rarest category
    skewed = _check(mixed, rows, skewed_mix)
    assert skewed.drifted and skewed.concept_drift
    assert "predicted:category_mix" in skewed.details["flagged_tests"]
    assert "category" not in skewed.drifted_features  # the model's output: never a field to avoid


def test_title_only_rows_are_compared_with_title_only_predictions(mixed: DriftReference) -> None:
    """Title-only rows lean to class 0 as the reference's title-only copies do: not flagged; the
    same predictions on full rows are."""
    rng = np.random.default_rng(2)
    predicted = rng.choice(6, size=300, p=TITLE_MIX)
    rows = make_products(300, seed=12)
    title_only = _check(mixed, rows.drop(columns=["subcategory"]), predicted)
    assert "predicted_title_only:category_mix" in title_only.details["tests"]
    assert not title_only.details["tests"]["predicted_title_only:category_mix"]["drifted"]
    full = _check(mixed, rows, np.where(rng.random(300) < 0.25, 0, predicted))
    assert full.details["tests"]["predicted:category_mix"]["drifted"]


def test_single_rows_from_a_few_categories_flag_the_window(mixed: DriftReference) -> None:
    rng = np.random.default_rng(3)
    rows = ProductFeatures.prepare(make_products(400, seed=13))
    monitor = DriftMonitor(mixed)
    mix = np.concatenate([rng.choice(6, size=200, p=FULL_MIX), rng.choice([4, 5], size=200)])
    flagged = []
    for i in range(len(rows)):
        verdict = monitor.check(rows.iloc[[i]], np.array([0.9]), predicted=mix[i : i + 1])
        flagged.append(verdict.drifted and "category_mix" in " ".join(verdict.details.get("flagged_tests", [])))
    assert not any(flagged[:200])
    assert any(flagged[200:300])  # within 100 rows of the change


def test_without_predictions_or_stored_counts_there_is_no_mix_test(
    mixed: DriftReference, reference: DriftReference
) -> None:
    rows = make_products(100, seed=14)
    assert "predicted:category_mix" not in _check(mixed, rows, None).details["tests"]  # type: ignore[arg-type]
    assert reference.confidence.predicted_counts is None  # a reference built without them
    assert "predicted:category_mix" not in _check(reference, rows, np.zeros(100, dtype=int)).details["tests"]
    failed = np.full(100, -1)  # the primary answered no row
    assert "predicted:category_mix" not in _check(mixed, rows, failed).details["tests"]
