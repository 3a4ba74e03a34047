"""Input profiles: a client that sends fewer fields is judged against its own kind of rows.

Missing optional fields are completeness (reported, never a drift verdict); confidences of rows
without a sub-category are compared with the reference's title-only confidences; shifts inside a
partial profile are still caught.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from features.pipeline import ProductFeatures
from pyfunc_model.drift import DriftMonitor, DriftReference
from pyfunc_model.drift.ood import sent_mask
from pyfunc_model.drift.profiles import BRAND_AS_SENT, TITLE_ONLY, drift_view
from tests.drift.conftest import make_products
from training.drift_reference import build_reference

OPTIONAL = ["seller_id", "brand", "subcategory", "price", "rating", "reviews_count"]
#: confidences of full rows (reference) and of title-only rows, which are less sure
FULL_CONF, TITLE_CONF = (8, 2), (4, 3)


@pytest.fixture(scope="module")
def profiled(train_frame: pd.DataFrame) -> DriftReference:
    rng = np.random.default_rng(1)
    full, title = rng.beta(*FULL_CONF, size=600), rng.beta(*TITLE_CONF, size=600)
    return build_reference(
        train_frame,
        full,
        rng.random(600) < full,
        calibration_chunks=20,
        profile_confidence={TITLE_ONLY: (title, rng.random(600) < title)},
    )


def _rows(seed: int, keep: list[str]) -> pd.DataFrame:
    raw = make_products(300, seed=seed)
    return raw.assign(**{c: None for c in OPTIONAL if c not in keep})


def _conf(ab: tuple[int, int], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).beta(*ab, size=300)


@pytest.mark.parametrize("keep", [OPTIONAL, ["price"], []], ids=["all fields", "title + price", "title only"])
def test_in_distribution_rows_of_every_profile_are_not_drifted(profiled: DriftReference, keep: list[str]) -> None:
    conf = _conf(FULL_CONF if "subcategory" in keep else TITLE_CONF, seed=3)
    verdict = DriftMonitor(profiled).check(ProductFeatures.prepare(_rows(5, keep)), conf)
    assert not verdict.drifted, verdict.details["flagged_tests"]
    # what the client left out is reported as completeness, not as drift
    left_out = set(OPTIONAL) - set(keep)
    assert set(verdict.details["completeness_flagged"]) <= left_out
    assert ("subcategory" in verdict.details["completeness_flagged"]) == ("subcategory" in left_out)


def test_title_only_rows_as_unsure_as_full_rows_would_be_are_not_ok(profiled: DriftReference) -> None:
    """The same title-only rows with confidences far below the title-only reference: concept drift."""
    conf = np.random.default_rng(3).beta(2, 6, size=300)
    verdict = DriftMonitor(profiled).check(ProductFeatures.prepare(_rows(5, [])), conf)
    assert verdict.concept_drift and any(
        t.startswith("confidence_title_only:") for t in verdict.details["flagged_tests"]
    )


def test_title_only_confidences_on_full_rows_are_concept_drift(profiled: DriftReference) -> None:
    """Full rows answered as unsurely as title-only ones: the primary lost confidence."""
    verdict = DriftMonitor(profiled).check(ProductFeatures.prepare(_rows(5, OPTIONAL)), _conf(TITLE_CONF, seed=3))
    assert verdict.concept_drift


def test_shifts_inside_a_partial_profile_are_caught(profiled: DriftReference) -> None:
    title_price = _rows(5, ["price"])
    title_price["price"] = pd.to_numeric(title_price["price"]) * 1.5
    verdict = DriftMonitor(profiled).check(ProductFeatures.prepare(title_price), _conf(TITLE_CONF, seed=3))
    assert "price" in verdict.drifted_features
    short = _rows(5, [])
    short["title"] = short["title"].map(lambda t: " ".join(t.split()[:2]))
    verdict = DriftMonitor(profiled).check(ProductFeatures.prepare(short), _conf(TITLE_CONF, seed=3))
    assert "title" in verdict.drifted_features


def test_estimated_accuracy_follows_each_rows_profile(profiled: DriftReference) -> None:
    """An upstream that stops sending the sub-category costs accuracy, and the estimate shows it."""
    full = DriftMonitor(profiled).check(ProductFeatures.prepare(_rows(5, OPTIONAL)), _conf(FULL_CONF, seed=3))
    title = DriftMonitor(profiled).check(ProductFeatures.prepare(_rows(5, [])), _conf(TITLE_CONF, seed=3))
    assert title.estimated_accuracy < full.estimated_accuracy - 0.1


def test_a_reference_without_profiles_round_trips_and_skips_rows_it_has_no_reference_for(
    profiled: DriftReference,
) -> None:
    assert DriftReference.from_dict(profiled.to_dict()).confidence_profiles.keys() == {TITLE_ONLY}
    older = profiled.to_dict()
    older.pop("confidence_profiles")
    legacy = DriftReference.from_dict(older)
    assert legacy.confidence_profiles == {}
    verdict = DriftMonitor(dataclasses.replace(legacy)).check(
        ProductFeatures.prepare(_rows(5, [])), _conf(TITLE_CONF, seed=3)
    )
    assert not verdict.concept_drift


def test_brands_derived_from_titles_are_not_compared_with_a_catalogues_own_brands() -> None:
    raw = make_products(600, seed=1)
    # the catalogue's brands are not the titles' first words (as in most real catalogues)
    catalogue = raw.assign(brand="house " + raw["title"].str.split().str[0])
    conf = np.random.default_rng(1).beta(*FULL_CONF, size=600)
    ref = build_reference(
        ProductFeatures.prepare(catalogue),
        conf,
        conf > 0.5,
        calibration_chunks=20,
        brand_sent=sent_mask(catalogue, "brand"),
    )
    assert ref.settings[BRAND_AS_SENT] == 1.0
    client = make_products(300, seed=5).assign(brand=None)  # sends no brand: the model derives one
    prepared = ProductFeatures.prepare(client)
    assert "brand" in DriftMonitor(ref).check(prepared, None).drifted_features  # compared as is, they differ
    verdict = DriftMonitor(ref).check(drift_view(prepared, ref, sent_mask(client, "brand")), None)
    assert "brand" not in verdict.drifted_features, verdict.details["flagged_tests"]
    assert "brand" in verdict.details["completeness_flagged"]  # reported as a field not sent
    # brands a client does send are still compared
    shifted = make_products(300, seed=5).assign(brand="house newcomer")
    moved = DriftMonitor(ref).check(
        drift_view(ProductFeatures.prepare(shifted), ref, sent_mask(shifted, "brand")), None
    )
    assert "brand" in moved.drifted_features


def test_catalogues_without_brands_keep_comparing_derived_ones(reference: DriftReference) -> None:
    assert reference.settings[BRAND_AS_SENT] == 0.0  # built without brand_sent, as older artifacts
    client = make_products(300, seed=5).assign(brand=None)
    prepared = ProductFeatures.prepare(client)
    assert drift_view(prepared, reference, sent_mask(client, "brand")) is prepared
