"""Row caps of the training stages: scores stay out of fold past them, nothing changes below them, they are logged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.pipeline import ProductFeatures
from features.subsample import capped_groups, group_fold
from features.text import normalize_title
from features.title import MAX_FIT_TITLES, TitleTextScorer
from training.booster import MAX_BAGGED_ROWS
from training.drift_reference import MAX_REFERENCE_ROWS
from training.fit import MAX_FOREST_SAMPLES, MAX_RULE_ROWS
from training.run_params import model_params
from training.synthetic import generate_synthetic_products

N_GROUPS, N_CLASSES, CAP = 400, 8, 150


def _memorisable(n_groups: int = N_GROUPS, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Title groups made of one random word each, a random label per group, 1-3 spellings per group.

    A model that saw a group recognises its word; one that did not can only guess (1 in 8).
    """
    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    titles, labels = [], []
    for _ in range(n_groups):
        word = "".join(rng.choice(letters, 9))
        label = f"c{rng.integers(N_CLASSES)}"
        for spelling in (word, word.upper(), f"{word}!")[: rng.integers(1, 4)]:
            titles.append(spelling)
            labels.append(label)
    return pd.DataFrame({"title": titles}), np.asarray(labels)


def _accuracy(scorer: TitleTextScorer, scores: np.ndarray, y: np.ndarray) -> float:
    svm = scores[:, : len(scorer.classes_)]
    return float((scorer.classes_[svm.argmax(axis=1)] == y).mean())


def test_capped_fit_keeps_scores_out_of_fold():
    X, y = _memorisable()
    scorer = TitleTextScorer(max_fit_titles=CAP)
    oof = scorer.fit_transform(X, y)
    groups = normalize_title(X["title"]).to_numpy()
    distinct = pd.unique(groups)  # one label per group: distinct groups are the distinct (title, label) pairs
    kept = distinct[capped_groups(distinct, CAP, scorer.random_state)]
    assert 0 < len(kept) <= CAP
    in_fit = np.isin(groups, kept)
    served = scorer.transform(X)
    # the served models memorised the subset and never saw the rest: the test can tell seen from unseen
    assert _accuracy(scorer, served[in_fit], y[in_fit]) > 0.9
    assert _accuracy(scorer, served[~in_fit], y[~in_fit]) < 0.3
    # out-of-fold scores never come from a model that saw the title, inside the subset or outside it
    assert _accuracy(scorer, oof[in_fit], y[in_fit]) < 0.3
    assert _accuracy(scorer, oof[~in_fit], y[~in_fit]) < 0.3
    # titles outside the subset are scored by fold models (fitted on 4/5 of it), not left empty
    assert not np.any(oof[~in_fit] == -1.0)
    assert not np.allclose(oof[~in_fit], served[~in_fit])


def test_cap_at_or_above_the_titles_changes_nothing():
    X, y = _memorisable(120, seed=1)
    uncapped = TitleTextScorer(max_fit_titles=None)
    capped = TitleTextScorer(max_fit_titles=len(X))
    assert np.array_equal(uncapped.fit_transform(X, y), capped.fit_transform(X, y))
    assert np.array_equal(uncapped.transform(X), capped.transform(X))


def test_subset_keeps_whole_groups_independent_of_order():
    groups = np.array([f"g{i % 50}" for i in range(300)], dtype=object)  # 50 groups of 6 rows
    kept = capped_groups(groups, 100, seed=3)
    assert kept.sum() <= 100 and kept.sum() % 6 == 0
    assert all(len(set(kept[groups == g])) == 1 for g in np.unique(groups))
    order = np.random.default_rng(0).permutation(len(groups))
    assert np.array_equal(capped_groups(groups[order], 100, seed=3), kept[order])
    assert capped_groups(groups, 300, seed=3) is None
    folds = group_fold(groups, 5, seed=3)
    assert all(len(set(folds[groups == g])) == 1 for g in np.unique(groups))
    assert set(folds.tolist()) <= set(range(5))


def test_subset_rejects_a_cap_below_one():
    with pytest.raises(ValueError, match="at least 1"):
        capped_groups(np.array(["a", "b"], dtype=object), 0, seed=0)


def test_row_caps_are_logged_as_run_params():
    frame = generate_synthetic_products(400, seed=0)
    features = ProductFeatures().fit(frame.drop(columns="category"), frame["category"].to_numpy())
    params = model_params(features, 0.15)
    assert params["features.text.max_fit_titles"] == MAX_FIT_TITLES
    assert params["lgb.max_bagged_rows"] == MAX_BAGGED_ROWS
    assert params["drift.max_reference_rows"] == MAX_REFERENCE_ROWS
    assert params["fallback.random_forest.max_samples_cap"] == MAX_FOREST_SAMPLES
    assert params["fallback.rules.max_rows"] == MAX_RULE_ROWS
