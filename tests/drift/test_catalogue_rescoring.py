"""Re-scoring the training catalogue is not drift.

Why: the reference's price residuals are out of fold (folds grouped by title), so a training
title never had its own price as a neighbour. If serving priced a re-sent training listing from
its own training row, its residual would be near zero and a batch of catalogue rows would look
like a price shift. Serving uses the title's stored out-of-fold prediction instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.pipeline import ProductFeatures
from pyfunc_model.drift import DriftMonitor, DriftReference
from tests.drift.conftest import make_products
from training.drift_reference import build_reference

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def catalogue() -> pd.DataFrame:
    """Prepared listings whose titles are all distinct (a SKU each), as in a real catalogue."""
    raw = make_products(2000, seed=0)
    raw["title"] = [f"{title} sku{i}" for i, title in enumerate(raw["title"])]
    return ProductFeatures.prepare(raw)


@pytest.fixture(scope="module")
def catalogue_reference(catalogue: pd.DataFrame) -> DriftReference:
    rng = np.random.default_rng(1)
    conf = rng.beta(8, 2, size=600)
    return build_reference(catalogue, conf, rng.random(600) < conf, calibration_chunks=20)


def _price_residual_scores(reference: DriftReference, batch: pd.DataFrame) -> tuple[list[str], float, float]:
    verdict = DriftMonitor(reference).check(batch, None)
    ks = verdict.details["tests"]["price_residual:ks"]
    return list(verdict.drifted_features), ks["score"], ks["threshold"]


def test_training_rows_sent_again_do_not_look_like_price_drift(
    catalogue: pd.DataFrame, catalogue_reference: DriftReference
) -> None:
    batch = catalogue.sample(500, random_state=3).reset_index(drop=True)
    drifted, score, threshold = _price_residual_scores(catalogue_reference, batch)
    assert "price" not in drifted
    assert score < threshold


def test_a_training_title_is_priced_with_its_out_of_fold_prediction(
    catalogue: pd.DataFrame, catalogue_reference: DriftReference
) -> None:
    price = catalogue_reference.lookups().price
    assert price.index_own is not None
    own_price, own_nearest = price.index_own
    assert own_price.shape == own_nearest.shape == price.index_price.shape
    # the stored prediction is out of fold: it is not the title's own training price
    assert np.median(np.abs(own_price - price.index_price)) > 0.05
    assert np.all(own_nearest < 1.0 - 1e-6)
