"""Out-of-fold booster scores for the auto-accept threshold: a row never scored by a booster that saw its label."""

from __future__ import annotations

import numpy as np

import training.fit as fit_module
from pyfunc_model.review import THRESHOLD_KEY
from pyfunc_model.temperature import TEMPERATURE_KEY
from training.held_back import out_of_fold_proba
from training.synthetic import generate_synthetic_products


def _scores(y: np.ndarray, X: np.ndarray, groups: np.ndarray) -> np.ndarray:
    return out_of_fold_proba(
        X, y, groups, 8, {TEMPERATURE_KEY: 1.0}, 0, [], [f"f{i}" for i in range(X.shape[1])], 3, seed=0
    )


def test_out_of_fold_scores_ignore_the_rows_own_title_group():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4))
    y = (X[:, 1] > 0).astype(int) + (X[:, 2] > 0.5).astype(int)
    groups = np.arange(300) // 2  # listings sharing a title come in pairs
    proba = _scores(y, X, groups)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (proba.argmax(axis=1) == y).mean() > 0.8  # the boosters learned something
    # relabel one title group: only rows of other folds can change, never the group's own rows
    flipped = y.copy()
    flipped[[10, 11]] = (y[[10, 11]] + 1) % 3
    again = _scores(flipped, X, groups)
    np.testing.assert_array_equal(again[[10, 11]], proba[[10, 11]])
    assert not np.array_equal(again, proba)


def test_large_validation_split_chooses_the_threshold_without_out_of_fold_fits(monkeypatch):
    """Past ENOUGH_VALIDATION_ROWS the threshold comes from the validation rows (here: always)."""
    frame = generate_synthetic_products(600, seed=5)
    monkeypatch.setattr(fit_module, "ENOUGH_VALIDATION_ROWS", 0)
    fitted = fit_module.fit_model(frame, seed=1)
    assert 0.0 < fitted.bundle.metadata[THRESHOLD_KEY] <= 1.0
    assert 0.0 < fitted.bundle.metadata[f"{THRESHOLD_KEY}_all_fields"] <= 1.0
