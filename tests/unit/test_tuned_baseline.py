"""The tuned title baseline: its min_df views are TfidfVectorizer's own, its choice is the best inner
score, and the bars a run fits in a background process are the ones it would fit in process."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.baseline import baselines_in_background, evaluation_rows, title_baselines, title_vectorizer
from training.cv import TUNED_SVC, tuned_svc_fold
from training.synthetic import generate_synthetic_products
from training.tuned_baseline import C_GRID, MIN_DF_GRID, min_df_matrices, tune_title_svc


def test_min_df_views_equal_a_vectorizer_fitted_with_that_min_df():
    frame = generate_synthetic_products(400, seed=2)
    train, other = frame["title"].iloc[:300], frame["title"].iloc[300:]
    views = min_df_matrices(train, other, (1, 2))
    for m in (1, 2):
        union = title_vectorizer()
        for _, vectorizer in union.transformer_list:
            vectorizer.set_params(min_df=m)
        expected_train = union.fit_transform(train).toarray()
        np.testing.assert_allclose(views[m][0].toarray(), expected_train, atol=1e-12)
        np.testing.assert_allclose(views[m][1].toarray(), union.transform(other).toarray(), atol=1e-12)
    assert views[2][0].shape[1] < views[1][0].shape[1]  # min_df 2 dropped n-grams


def test_the_choice_is_the_best_mean_inner_score_over_the_whole_grid():
    frame = generate_synthetic_products(600, seed=4)
    tuned = tune_title_svc(frame["title"], frame["category"].to_numpy(), seed=0)
    assert len(tuned.inner_macro_f1) == len(C_GRID) * len(MIN_DF_GRID)
    assert tuned.inner_macro_f1[f"C_{tuned.C:g}_min_df_{tuned.min_df}"] == max(tuned.inner_macro_f1.values())
    assert tuned.params()["baseline_tuned.C"] in C_GRID
    pred = tuned.predict(frame["title"], frame["category"].to_numpy(), pd.Series(["", None]))
    assert len(pred) == 2


def test_bars_fitted_in_the_background_equal_the_bars_fitted_in_process():
    frame = generate_synthetic_products(500, seed=6)
    train, test = frame.iloc[:400].reset_index(drop=True), frame.iloc[400:].reset_index(drop=True)
    with baselines_in_background(train, test, seed=0) as wait:
        background = wait()
    classes = np.unique(train["category"].to_numpy())
    direct = title_baselines(train, evaluation_rows(test, classes), classes, seed=0, n_jobs=1)
    assert background.params == direct.params
    assert background.per_class_f1 == direct.per_class_f1
    timing = {"baseline_fit_seconds"}
    assert {k: v for k, v in background.metrics.items() if k not in timing} == {
        k: v for k, v in direct.metrics.items() if k not in timing
    }


def test_a_failed_run_stops_the_background_bars_and_keeps_its_error():
    frame = generate_synthetic_products(300, seed=7)
    with (
        pytest.raises(RuntimeError, match="the run failed"),
        baselines_in_background(frame.iloc[:250], frame.iloc[250:], seed=0),
    ):
        raise RuntimeError("the run failed")


def test_a_fold_whose_choice_is_the_default_reuses_the_untuned_score():
    frame = generate_synthetic_products(400, seed=8)
    train, test = frame.iloc[:300].reset_index(drop=True), frame.iloc[300:].reset_index(drop=True)
    keys = [f"C_{C:g}_min_df_{m}" for m in MIN_DF_GRID for C in C_GRID]
    default_best = [{k: (0.9 if k == "C_1_min_df_1" else 0.5) for k in keys}]
    out = tuned_svc_fold(train, test, 0, default_best, untuned_f1=0.123)
    assert out[f"baseline_{TUNED_SVC}_macro_f1_title_only"] == 0.123
    other_best = [{k: (0.9 if k == "C_2_min_df_2" else 0.5) for k in keys}]
    out = tuned_svc_fold(train, test, 0, other_best, untuned_f1=0.123)
    assert (out["baseline_tuned_C"], out["baseline_tuned_min_df"]) == (2.0, 2)
    assert 0.3 < out[f"baseline_{TUNED_SVC}_macro_f1_title_only"] <= 1.0  # fitted and scored
