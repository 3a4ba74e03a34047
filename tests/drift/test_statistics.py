"""The statistics on hand-built samples: quiet on the reference, loud on clear shifts."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from features.pipeline import ProductFeatures
from pyfunc_model.drift import DriftMonitor, DriftReference, summarize
from pyfunc_model.drift.checks import calibration_of, chunk_scores, data_tests, large_sample, normal_score
from pyfunc_model.drift.summary import mean_token_shares, token_shares
from tests.drift.conftest import make_products
from training.drift_reference import build_reference


def test_no_drift_on_large_and_small_new_batches(reference: DriftReference) -> None:
    monitor = DriftMonitor(reference)
    new = ProductFeatures.prepare(make_products(1500, seed=11))
    conf = np.random.default_rng(1).beta(8, 2, size=len(new))
    whole = monitor.check(new, conf)  # > large_n rows: the calibrated tests on a sample
    assert not whole.drifted, whole.details["flagged_tests"]
    assert whole.details["regime"] == "calibrated sample"
    part = monitor.check(new.iloc[:300], conf[:300])  # calibrated regime
    assert not part.drifted, part.details["flagged_tests"]
    assert 0.0 <= part.score < 0.5


def test_no_drift_on_new_rows_from_the_same_distribution(
    reference: DriftReference, fresh: pd.DataFrame, fresh_conf: np.ndarray
) -> None:
    verdict = DriftMonitor(reference).check(fresh, fresh_conf)
    assert not verdict.drifted, verdict.details["flagged_tests"]
    assert verdict.scope == "batch"
    assert abs(verdict.estimated_accuracy - 0.8) < 0.1


def test_price_shift_is_data_drift_on_price(reference: DriftReference, fresh_conf: np.ndarray) -> None:
    shifted = ProductFeatures.prepare(make_products(300, seed=5, price_factor=2.0))
    verdict = DriftMonitor(reference).check(shifted, fresh_conf)
    assert verdict.drifted and verdict.score >= 0.5
    assert "price" in verdict.drifted_features
    assert not verdict.concept_drift
    assert verdict.details["tests"]["price_residual:rank"]["drifted"]


def test_unseen_brands_and_foreign_titles_are_caught(reference: DriftReference, fresh_conf: np.ndarray) -> None:
    brands = ProductFeatures.prepare(make_products(300, seed=5, brands=[f"novel{i}" for i in range(30)]))
    verdict = DriftMonitor(reference).check(brands, fresh_conf)
    assert "brand" in verdict.drifted_features
    foreign = brands.assign(title=[f"zxq{i} qwv{i % 7} {i}" for i in range(len(brands))])
    verdict = DriftMonitor(reference).check(foreign, fresh_conf)
    assert "title" in verdict.drifted_features


def test_confidence_drop_is_concept_drift(reference: DriftReference, fresh: pd.DataFrame) -> None:
    low = np.random.default_rng(2).beta(2, 3, size=len(fresh))
    verdict = DriftMonitor(reference).check(fresh, low)
    assert verdict.concept_drift and verdict.drifted
    assert verdict.drifted_features == []
    assert verdict.estimated_accuracy < 0.6


def test_large_batches_are_judged_by_the_calibrated_tests_on_a_sample(reference: DriftReference) -> None:
    """Above ``large_n`` rows the calibrated tests read ``large_n`` rows of the batch, every row with a
    price residual among them; a reference without a calibration falls back to distances."""
    big = ProductFeatures.prepare(make_products(2500, seed=9, price_factor=3.0))
    verdict = DriftMonitor(reference).check(big, None)
    assert verdict.details["regime"] == "calibrated sample"
    tests = verdict.details["tests"]
    assert tests["price:rank"]["n"] == reference.settings["large_n"] and tests["price:rank"]["drifted"]
    residual_rows = np.isfinite(summarize(big, reference).col("price_residual")).sum()
    assert 0 < residual_rows == tests["price_residual:rank"]["n"]  # every residual is in the sample
    assert "price" in verdict.drifted_features
    assert np.isnan(verdict.estimated_accuracy)

    uncalibrated = dataclasses.replace(reference, calibration={})
    fallback = DriftMonitor(uncalibrated).check(big, None)
    assert fallback.details["regime"] == "distance"
    assert fallback.details["tests"]["price:wasserstein"]["drifted"]


@pytest.mark.parametrize("calibrated", [True, False], ids=["calibrated sample", "distances"])
def test_large_in_distribution_batches_are_not_flagged(reference: DriftReference, calibrated: bool) -> None:
    """Fresh rows of the same catalogue pass in either large-batch regime. The distances' thresholds
    allow for what sampling alone gives the values a signal has (the price residual is computed for
    at most 256 titles of a batch; hashed brands spread 2,000 rows over many buckets)."""
    ref = reference if calibrated else dataclasses.replace(reference, calibration={})
    flagged = []
    for seed in range(20, 26):
        verdict = DriftMonitor(ref).check(ProductFeatures.prepare(make_products(2000, seed=seed)), None)
        flagged += verdict.details["flagged_tests"]
    assert flagged == []
    assert reference.numeric["price_residual"].wasserstein_noise > 0.3  # n values lie ~0.8 x this / sqrt(n) away


def test_a_large_batch_of_the_same_listings_sent_again_is_judged_on_each_listing_once(
    reference: DriftReference,
) -> None:
    """Identical rows are one listing to the calibration (measured on distinct rows): 600 fresh
    listings sent four times are 600 rows to the tests, not 2,400 clustered ones."""
    rows = make_products(600, seed=31)
    batch = ProductFeatures.prepare(pd.concat([rows] * 4, ignore_index=True))
    summary = summarize(batch, reference)
    sample = large_sample(summary.table, summary.tokens, reference.settings["large_n"])
    assert len(sample) == len(np.unique(summary.table[:600], axis=0)) and (np.diff(sample) > 0).all()
    verdict = DriftMonitor(reference).check(batch, None)
    assert verdict.details["regime"] == "calibrated sample" and not verdict.drifted, verdict.details["flagged_tests"]


def test_reference_round_trips_through_json(reference: DriftReference, fresh: pd.DataFrame) -> None:
    text = json.dumps(reference.to_dict())
    assert len(text) < 300_000  # seen sets are bitmaps, not lists of values (3,000 rows: ~251,000)
    again = DriftReference.from_dict(json.loads(text))
    assert again.to_dict() == reference.to_dict()
    a, b = summarize(fresh, reference), summarize(fresh, again)
    np.testing.assert_array_equal(a.table, b.table)
    va = DriftMonitor(reference).check(fresh, None, summary=a)
    vb = DriftMonitor(again).check(fresh, None, summary=b)
    assert va.score == vb.score and va.details["tests"] == vb.details["tests"]


def test_a_reference_from_before_fitted_signals_loads_and_skips_them(
    reference: DriftReference, fresh: pd.DataFrame
) -> None:
    from pyfunc_model.drift.signals import FITTED_SIGNALS

    older = reference.to_dict()
    older.pop("fitted")
    for signal in FITTED_SIGNALS:
        older["numeric" if signal.kind == "numeric" else "shares"].pop(signal.name)
    loaded = DriftReference.from_dict(older)
    summary = summarize(fresh, loaded)
    verdict = DriftMonitor(loaded).check(fresh, None, summary=summary)
    for signal in FITTED_SIGNALS:
        assert np.isnan(summary.col(signal.name)).all()
        assert not [name for name in verdict.details["tests"] if name.startswith(f"{signal.name}:")]
        assert np.isfinite(summarize(fresh, reference).col(signal.name)).any()  # the current reference has them


def test_a_reference_keeps_the_bucket_resolution_it_was_calibrated_with(
    reference: DriftReference, fresh: pd.DataFrame
) -> None:
    """Categorical chi-squares use >= 3 rows per bucket; a reference built before that setting
    existed was calibrated with 6 and keeps them (fewer buckets for the same rows)."""
    assert reference.settings["bucket_rows_per_cell"] == 3.0
    older = reference.to_dict()
    del older["settings"]["bucket_rows_per_cell"]
    loaded = DriftReference.from_dict(older)
    assert loaded.settings["bucket_rows_per_cell"] == 6.0
    rows = fresh.head(150)
    current = DriftMonitor(reference).check(rows, None).details["tests"]["subcategory:chi2"]["test"]
    legacy = DriftMonitor(loaded).check(rows, None).details["tests"]["subcategory:chi2"]["test"]
    assert (current, legacy) == ("chi_square_32_buckets", "chi_square_16_buckets")


def test_a_reference_without_calibration_decides_with_bonferroni_thresholds(
    train_frame: pd.DataFrame, reference: DriftReference, fresh_conf: np.ndarray
) -> None:
    """``calibration_chunks=0`` (cross-validation folds): the same statistics, no calibration, and
    the monitor still tests and decides (a doubled price is still caught)."""
    rng = np.random.default_rng(1)
    conf = rng.beta(8, 2, size=600)
    bare = build_reference(train_frame, conf, rng.random(600) < conf, calibration_chunks=0)
    assert bare.calibration == {} and reference.calibration
    assert bare.numeric.keys() == reference.numeric.keys()
    shifted = ProductFeatures.prepare(make_products(300, seed=5, price_factor=2.0))
    verdict = DriftMonitor(DriftReference.from_dict(bare.to_dict())).check(shifted, fresh_conf)
    assert verdict.drifted and "price" in verdict.drifted_features


def test_bulk_scores_equal_each_chunk_scored_alone(reference: DriftReference) -> None:
    """The calibration scores its null chunks in bulk; serving scores one batch at a time. Both
    must be the same statistics: every test, small (exact Smirnov) and large (asymptotic KS)
    chunks, levels that differ between chunks, missing values, a chunk with too few values."""
    rows = ProductFeatures.prepare(make_products(1500, seed=21))
    summary = summarize(rows, reference)
    rng = np.random.default_rng(3)
    for size in (30, 150):
        chunks = np.stack([rng.choice(len(rows), size=size, replace=False) for _ in range(12)])
        tables, tokens = summary.table[chunks], summary.tokens[chunks]
        tables[0, :, :] = np.nan  # nothing sent: no test of the table's signals
        tokens[0, :, :] = 0
        tables[1, : size // 2, :] = np.nan  # half sent: a smaller level for the categoricals
        tokens[1, : size // 2, :] = 0
        bulk = chunk_scores(reference, tables, tokens)
        for j in range(len(chunks)):
            alone = {
                r.name: normal_score(r.p_value)
                for r in data_tests(reference, tables[j], tokens[j], large=False)
                if r.p_value is not None
            }
            found = {name: z[j] for name, z in bulk.items() if np.isfinite(z[j])}
            assert found.keys() == alone.keys(), (size, j)
            for name, z in alone.items():
                assert abs(found[name] - z) < 1e-9, (size, j, name)
        assert {name.split(":")[1] for name in bulk} >= {"rank", "ks", "excess", "chi2"}
        assert not any(np.isfinite(z[0]) for z in bulk.values())


def test_standardising_all_tests_at_once_equals_one_at_a_time(reference: DriftReference) -> None:
    calibration = calibration_of(reference)
    keys = [*calibration.tests, "no_such:test"]  # an uncalibrated test keeps its score
    z = np.linspace(-2.0, 6.0, len(keys))
    sizes = np.exp(calibration.log_sizes)
    for n in (1, 10, int(sizes[0]), int(sizes.mean()), int(sizes[-1]), 10 * int(sizes[-1])):
        one_by_one = [
            (s - calibration._at(n, calibration.tests[k][0])) / max(calibration._at(n, calibration.tests[k][1]), 1e-6)
            if k in calibration.tests
            else s
            for k, s in zip(keys, z, strict=True)
        ]
        np.testing.assert_allclose(calibration.standardise_many(keys, z, n), one_by_one, rtol=1e-12, atol=1e-12)
    assert calibration_of(reference) is calibration  # built once per reference


def test_mean_token_shares_is_the_mean_of_each_rows_shares() -> None:
    rng = np.random.default_rng(3)
    tokens = rng.poisson(0.05, size=(300, 256)).astype(np.uint8)
    tokens[::7] = 0  # rows without tokens count in neither
    for k in (256, 64, 16, 4):
        shares, _ = token_shares(tokens, k)
        np.testing.assert_allclose(mean_token_shares(tokens, k), shares.mean(axis=0), rtol=1e-12, atol=1e-15)
