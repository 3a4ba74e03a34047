"""Fallback chain routing and the rule/prior fallbacks on hand-built inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pyfunc_model.chain import ROUTES, run_chain
from pyfunc_model.fallbacks import PriorClassifier, RuleClassifier

K = 3


def _const(p: list[float]):
    return lambda rows: np.tile(np.asarray(p, dtype=float), (rows.size, 1))


def _scorers(**override):
    base = {
        "naive_bayes": _const([0.7, 0.2, 0.1]),
        "random_forest": _const([0.1, 0.8, 0.1]),
        "rules": lambda rows: np.full((rows.size, K), np.nan),
        "prior": _const([0.2, 0.3, 0.5]),
    }
    return {**base, **override}


def test_every_row_gets_a_route_and_reason():
    primary = np.array([[0.9, 0.05, 0.05], [np.nan, np.nan, np.nan], [0.3, 0.3, 0.4]])
    start = np.array([0, ROUTES.index("naive_bayes"), 0])
    reasons = np.array(["", "primary_error:ValueError", ""], dtype=object)
    out = run_chain(primary, start, reasons, _scorers(), confidence_threshold=0.5)
    assert out.model_used.tolist() == ["primary", "naive_bayes", "naive_bayes"]
    assert out.fallback_reason.tolist() == ["", "primary_error:ValueError", "primary_low_confidence"]
    np.testing.assert_allclose(out.proba.sum(axis=1), 1.0)


def test_a_raising_fallback_passes_the_row_on():
    def boom(rows):
        raise RuntimeError("broken")

    primary = np.full((2, K), np.nan)
    start = np.full(2, ROUTES.index("naive_bayes"))
    out = run_chain(primary, start, np.array(["x", "y"], dtype=object), _scorers(naive_bayes=boom), 0.0)
    assert out.model_used.tolist() == ["random_forest", "random_forest"]


def test_prior_always_answers():
    primary = np.full((1, K), np.nan)
    out = run_chain(primary, np.array([ROUTES.index("rules")]), np.array(["r"], dtype=object), _scorers(), 0.99)
    assert out.model_used.tolist() == ["prior"]


def test_rules_use_subcategory_then_keywords():
    frame = pd.DataFrame(
        {
            "title": ["lg tv 55", "lg tv 43", "sony tv", "nike shoe", "nike shoe x", "puma shoe"] * 5,
            "subcategory": ["Televisions", None, None, "Shoes", None, None] * 5,
        }
    )
    y = np.array(["tv", "tv", "tv", "shoe", "shoe", "shoe"] * 5)
    rules = RuleClassifier().fit(frame, y, np.array(["shoe", "tv"]))
    probe = pd.DataFrame({"title": ["nike running", "whatever", "x"], "subcategory": [None, None, "televisions"]})
    proba = rules.predict_proba(probe)
    assert proba[0].argmax() == 0  # keyword "nike"
    assert np.isnan(proba[1]).all()  # no rule applies: abstain
    assert proba[2].argmax() == 1  # sub-category map (case-insensitive)


def test_prior_matches_training_mix():
    prior = PriorClassifier().fit(np.array(["a", "a", "a", "b"]), np.array(["a", "b"]))
    assert prior.predict_proba(2)[0] == pytest.approx([4 / 6, 2 / 6])
