"""The tuned title baseline: its min_df views are TfidfVectorizer's own, and its choice is the best inner score."""

from __future__ import annotations

import numpy as np
import pandas as pd

from training.baseline import title_vectorizer
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
