"""The title decision: what serving applies, and how training chooses it out of fold."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from features.schema import LABEL
from pyfunc_model.chain import softmax
from pyfunc_model.model import ProductClassifierModel
from pyfunc_model.temperature import row_temperatures
from pyfunc_model.title_decision import TitleDecision
from training.data import title_only
from training.fit import fit_model
from training.synthetic import generate_synthetic_products
from training.title_choice import (
    MAX_COVERAGE_LOSS,
    MAX_ECE_TITLE_ONLY,
    choose_title_decision,
    fast_macro_f1,
    fit_class_offsets,
)

K = 4


def _onehot_proba(labels: np.ndarray, sharpness: float, rng: np.random.Generator) -> np.ndarray:
    return softmax(sharpness * np.eye(K)[labels] + rng.normal(size=(len(labels), K)))


def test_title_rows_are_blended_and_the_others_keep_the_booster():
    rng = np.random.default_rng(0)
    proba = softmax(rng.normal(size=(6, K)))
    margins = rng.normal(size=(6, K))
    title_rows = np.array([True, False, True, False, True, False])
    decision = TitleDecision(0.5, 2.0, (0.1, -0.2, 0.0, 0.3))
    out = decision.apply(proba, margins, title_rows)
    np.testing.assert_array_equal(out[~title_rows], proba[~title_rows])
    blend = 0.5 * proba[title_rows] + 0.5 * softmax(margins[title_rows], 2.0)
    blend = blend * np.exp([0.1, -0.2, 0.0, 0.3])
    np.testing.assert_allclose(out[title_rows], blend / blend.sum(axis=1, keepdims=True))
    assert TitleDecision.from_metadata(decision.to_metadata()) == decision
    # an artifact without the keys serves the booster unchanged
    assert TitleDecision.from_metadata({}).apply(proba, margins, title_rows) is proba


def _held(booster_sharpness: float, scorer_sharpness: float, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    n = 4000
    y = rng.integers(0, K, n)
    title_only = np.arange(n) >= n // 2
    return {
        "held_proba": _onehot_proba(y, booster_sharpness, rng),
        "held_margins": scorer_sharpness * np.eye(K)[y] + rng.normal(size=(n, K)),
        "held_y": y,
        "held_title_only": title_only,
        "held_unknown": title_only,
        "valid_margins": scorer_sharpness * np.eye(K)[y[:800]] + rng.normal(size=(800, K)),
        "valid_y": y[:800],
        "class_prior": np.full(K, 1 / K),
    }


def test_a_title_scorer_that_knows_better_is_served_and_a_weak_one_is_not():
    strong_scorer = choose_title_decision(**_held(booster_sharpness=0.5, scorer_sharpness=4.0))
    assert strong_scorer.decision.blend_weight >= 0.75, strong_scorer.chosen
    weak_scorer = choose_title_decision(**_held(booster_sharpness=4.0, scorer_sharpness=0.3))
    assert weak_scorer.decision.blend_weight <= 0.25, weak_scorer.chosen


def test_the_choice_is_the_best_eligible_candidate_and_every_candidate_is_reported():
    choice = choose_title_decision(**_held(booster_sharpness=2.0, scorer_sharpness=2.0, seed=3))
    booster = choice.candidates[0]
    assert booster.name == "booster" and booster.blend_weight == 0 and booster.prior_power == 0
    for c in choice.candidates:
        assert c.eligible == (
            c.ece_title_only <= MAX_ECE_TITLE_ONLY
            and c.review_coverage_title_only >= booster.review_coverage_title_only - MAX_COVERAGE_LOSS
        )
    eligible = [c for c in choice.candidates if c.eligible]
    assert choice.chosen == max(eligible, key=lambda c: c.macro_f1_title_only).name
    metrics = choice.metrics()
    assert {f"oof_macro_f1_title_only_{c.name}" for c in choice.candidates} <= set(metrics)
    assert len(choice.to_dict()["candidates"]) == len(choice.candidates)


def test_fast_macro_f1_is_scikit_learns():
    rng = np.random.default_rng(5)
    y, pred = rng.integers(0, 6, 500), rng.integers(0, 5, 500)  # class 5 never predicted
    assert fast_macro_f1(y, pred, 7) == pytest.approx(f1_score(y, pred, average="macro", zero_division=0))


def test_fitted_offsets_give_a_swallowed_small_class_its_rows_back():
    rng = np.random.default_rng(1)
    y = np.where(rng.random(3000) < 0.1, 0, rng.integers(1, K, 3000))
    logits = 2.0 * np.eye(K)[y] + rng.normal(size=(3000, K))
    logits[:, 0] -= 2.0  # the small class is under-scored: its rows go to the large ones
    proba = softmax(logits)
    offsets = fit_class_offsets(proba, y)
    assert offsets[0] == offsets.max() and offsets.sum() == pytest.approx(0.0)
    before = fast_macro_f1(y, proba.argmax(axis=1), K)
    after = fast_macro_f1(y, (np.log(proba) + offsets).argmax(axis=1), K)
    assert after > before + 0.05


def test_offset_candidates_are_scored_on_rows_they_were_not_fitted_on():
    held = _held(booster_sharpness=2.0, scorer_sharpness=2.0, seed=4)
    choice = choose_title_decision(**held, held_groups=np.arange(len(held["held_y"])) // 2)
    fitted = [c for c in choice.candidates if c.fitted_offsets]
    assert [c.name for c in fitted] == [
        f"{n}_class_offsets" for n in ("booster", "blend_0.25", "blend_0.5", "blend_0.75", "title_scorer")
    ]
    # classes are balanced and equally scored here: cross-fitted offsets cannot beat no offsets by much
    plain = {c.name: c.macro_f1_title_only for c in choice.candidates if not c.fitted_offsets}
    for c in fitted:
        assert c.macro_f1_title_only <= plain[c.name.removesuffix("_class_offsets")] + 0.01


@pytest.mark.slow
def test_the_served_model_applies_the_decision_stored_in_its_artifact():
    frame = generate_synthetic_products(800, seed=6)
    fitted = fit_model(frame, seed=2)
    stored = TitleDecision.from_metadata(fitted.bundle.metadata)
    assert fitted.title_choice.decision == stored
    assert fitted.title_choice.chosen in {c.name for c in fitted.title_choice.candidates}
    model = ProductClassifierModel()
    model.setup(fitted.bundle)
    rows = title_only(frame.head(50)).drop(columns=LABEL)
    X = model.features.transform(rows)
    k = len(model.classes)
    booster = softmax(
        model.booster.predict(X, raw_score=True).reshape(len(rows), k),
        row_temperatures(X, model.share_column, fitted.bundle.metadata),
    )
    margins, title_rows = X[:, model.n_tabular : model.n_tabular + k], np.ones(len(rows), dtype=bool)
    served = model.predict(None, rows)
    np.testing.assert_allclose(served["confidence"], stored.apply(booster, margins, title_rows).max(axis=1), rtol=1e-9)
    # another decision changes what is served, exactly as it says
    other = TitleDecision(0.5, stored.scorer_temperature, (0.2,) * k)
    model.title_decision = other
    reblended = model.predict(None, rows)
    np.testing.assert_allclose(
        reblended["confidence"], other.apply(booster, margins, title_rows).max(axis=1), rtol=1e-9
    )
