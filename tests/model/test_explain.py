"""`explain`: why the model answered what it did, checked against the model it explains."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException

from features.prepared import prepare_input
from pyfunc_model.explain import EXPLANATION_COLUMN, booster_contributions, title_word_effects
from pyfunc_model.output import OUTPUT_COLUMNS

pytestmark = pytest.mark.slow


def _inputs(logged_model, n: int) -> pd.DataFrame:
    return logged_model.test_frame.drop(columns=["category"], errors="ignore").head(n).reset_index(drop=True)


def test_explain_off_leaves_the_output_as_it_was(loaded, logged_model):
    frame = _inputs(logged_model, 40)
    plain, explained = loaded.predict(frame), loaded.predict(frame, params={"explain": True})
    assert list(plain.columns) == list(OUTPUT_COLUMNS)
    assert list(explained.columns) == [*OUTPUT_COLUMNS, EXPLANATION_COLUMN]
    pd.testing.assert_frame_equal(plain, explained[list(OUTPUT_COLUMNS)])
    assert len(explained) == len(frame)
    for row, text in zip(explained.itertuples(), explained[EXPLANATION_COLUMN], strict=True):
        why = json.loads(text)
        assert why["category"] == row.category and why["model_used"] == row.model_used
        assert why["title_words"] and all(isinstance(w, str) for w, _ in why["title_words"])


def test_removing_the_top_word_lowers_that_class_score(logged_model):
    model = logged_model.in_memory
    scorer = model.features.text_
    titles = _inputs(logged_model, 30)["title"].tolist()
    margins = scorer.linear_.scores(scorer.vectorizer_.transform(titles))
    k = len(model.classes)
    best = margins[:, :k].argmax(axis=1)
    effects = title_word_effects(scorer, titles, best)
    for title, c, words in zip(titles, best, effects, strict=True):
        top, drop = words[0]
        assert drop > 0, (title, words)
        without = " ".join(w for w in title.split() if w != top)
        after = scorer.linear_.scores(scorer.vectorizer_.transform([title, without]))
        assert after[1, c] < after[0, c]
        assert after[0, c] - after[1, c] == pytest.approx(drop, abs=1e-5)


def test_pruned_words_keep_exact_values_and_the_top_word(logged_model):
    model = logged_model.in_memory
    scorer = model.features.text_
    titles = _inputs(logged_model, 60)["title"].tolist()
    margins = scorer.linear_.scores(scorer.vectorizer_.transform(titles))
    best = margins[:, : len(model.classes)].argmax(axis=1)
    every = title_word_effects(scorer, titles, best, candidates=None)
    pruned = title_word_effects(scorer, titles, best, candidates=3)
    same_top = 0
    for all_words, few in zip(every, pruned, strict=True):
        exact = dict(all_words)
        assert len(few) == min(3, len(all_words))
        for word, drop in few:
            assert drop == pytest.approx(exact[word], abs=1e-6)  # pruning chooses words, never changes values
        same_top += few[0][0] == all_words[0][0]
    assert same_top >= 0.9 * len(titles)


def test_booster_contributions_add_up_to_its_raw_score(logged_model):
    model = logged_model.in_memory
    prepared = prepare_input(_inputs(logged_model, 25))
    X = model.features.transform_prepared(prepared.columns)
    k = len(model.classes)
    raw = np.asarray(model.booster.predict(X, raw_score=True, validate_features=False)).reshape(len(X), k)
    chosen = raw.argmax(axis=1)
    contrib = booster_contributions(model.booster, X, chosen)
    whole = np.asarray(model.booster.predict(X, pred_contrib=True, validate_features=False)).reshape(len(X), k, -1)
    np.testing.assert_allclose(contrib, whole[np.arange(len(X)), chosen], atol=1e-9)  # LightGBM's own values
    assert contrib.sum(axis=1) == pytest.approx(raw[np.arange(len(X)), chosen], abs=1e-6)


def test_explain_must_be_a_boolean(loaded, logged_model):
    with pytest.raises(MlflowException, match="explain"):
        loaded.predict(_inputs(logged_model, 2), params={"explain": "yes"})
