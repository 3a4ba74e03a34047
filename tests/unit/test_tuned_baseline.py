"""The tuned title baseline: its min_df views are TfidfVectorizer's own, its choice is the best inner
score, and the bars a run fits in a background process are the ones it would fit in process."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from training.baseline import (
    BASELINES,
    BaselineInputs,
    baselines_in_background,
    evaluation_rows,
    title_baselines,
    title_vectorizer,
)
from training.cv import TUNED_SVC, baseline_fold, fold_bars, tuned_svc_fold
from training.evaluate import macro_f1
from training.synthetic import generate_synthetic_products
from training.tuned_baseline import C_GRID, MIN_DF_GRID, choose, inner_fold_jobs, min_df_matrices


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
    jobs = inner_fold_jobs(frame["title"], frame["category"].to_numpy(), seed=0)
    tuned = choose([function(*args, **kwargs) for function, args, kwargs in jobs])
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


def test_a_fold_whose_choice_is_the_default_reuses_the_untuned_labels():
    frame = generate_synthetic_products(400, seed=8)
    train, test = frame.iloc[:300].reset_index(drop=True), frame.iloc[300:].reset_index(drop=True)
    keys = [f"C_{C:g}_min_df_{m}" for m in MIN_DF_GRID for C in C_GRID]
    untuned = np.where(np.arange(len(test)) % 2 == 0, test["category"].to_numpy(), "nothing")
    default_best = [{k: (0.9 if k == "C_1_min_df_1" else 0.5) for k in keys}]
    row, tuned, pred = tuned_svc_fold(train, test, 0, default_best, untuned_pred=untuned)
    assert pred is untuned and tuned.is_default
    assert row[f"baseline_{TUNED_SVC}_macro_f1_title_only"] == macro_f1(test["category"].to_numpy(), untuned)
    other_best = [{k: (0.9 if k == "C_2_min_df_2" else 0.5) for k in keys}]
    row, tuned, pred = tuned_svc_fold(train, test, 0, other_best, untuned_pred=untuned)
    assert (row["baseline_tuned_C"], row["baseline_tuned_min_df"]) == (tuned.C, tuned.min_df) == (2.0, 2)
    assert row[f"baseline_{TUNED_SVC}_macro_f1_title_only"] > 0.3  # fitted and scored
    assert not np.array_equal(pred, untuned)


def test_a_field_never_sent_gives_the_baselines_no_column_and_its_input_set_shares_the_title_fits():
    frame = generate_synthetic_products(300, seed=10).assign(seller_id=None, brand=None)
    inputs = BaselineInputs.fit(frame)
    assert inputs.fields("_no_subcategory") == inputs.fields("_title_only") == ()
    assert inputs.fields("") == ("subcategory",)
    matrices = inputs.matrices(frame)
    assert (matrices["_no_subcategory"] != matrices["_title_only"]).nnz == 0
    subcategories = frame["subcategory"].nunique(dropna=False)  # missing: a value of its own
    assert matrices[""].shape[1] == matrices["_title_only"].shape[1] + subcategories
    train, test = frame.iloc[:240].reset_index(drop=True), frame.iloc[240:].reset_index(drop=True)
    row, _ = baseline_fold(train, test, seed=0)
    for name in BASELINES:
        assert row[f"baseline_{name}_macro_f1_no_subcategory"] == row[f"baseline_{name}_macro_f1_title_only"]


def test_a_cv_run_takes_its_held_out_bars_from_fold_0_equal_to_the_bars_of_a_run_without_cv():
    frame = generate_synthetic_products(500, seed=9)
    train, test = frame.iloc[:400].reset_index(drop=True), frame.iloc[400:].reset_index(drop=True)
    baseline, untuned = baseline_fold(train, test, seed=0)
    jobs = inner_fold_jobs(train["title"], train["category"].to_numpy(), 0)
    inner = [function(*args, **kwargs) for function, args, kwargs in jobs]
    _, tuned, tuned_pred = tuned_svc_fold(train, test, 0, inner, untuned)
    from_fold = fold_bars(train, test, baseline, tuned, tuned_pred)
    classes = np.unique(train["category"].to_numpy())
    direct = title_baselines(train, evaluation_rows(test, classes), classes, seed=0, n_jobs=1)
    assert from_fold.params == direct.params
    assert from_fold.per_class_f1 == direct.per_class_f1
    timing = {"baseline_fit_seconds"}
    # the same fits; the calibrated probabilities differ in the last bit (the matrix is stacked once more)
    assert {k: v for k, v in from_fold.metrics.items() if k not in timing} == pytest.approx(
        {k: v for k, v in direct.metrics.items() if k not in timing}, rel=1e-12
    )
