"""The sub-category class shares are cross-fitted: training rows never see their own label."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold

from features.pipeline import ProductFeatures
from features.target import HashedTargetEncoder
from features.text import normalize_title


def test_labels_unrelated_to_the_value_give_no_own_label_advantage_out_of_fold():
    """Random labels: an in-sample table gives each row's own label extra share; out of fold must not."""
    rng = np.random.default_rng(0)
    n = 4000
    values = pd.Series(rng.integers(0, 200, n).astype(str))
    y = rng.choice(np.array(["a", "b", "c", "d"]), n)
    enc = HashedTargetEncoder(min_count=1, cv=5)
    oof = enc.fit_transform(values, y)
    in_sample = enc.transform(values)
    own = np.searchsorted(enc.classes_, y)
    rows = np.arange(n)
    gap_in_sample = in_sample[rows, own].mean() - in_sample.mean()
    gap_oof = oof[rows, own].mean() - oof.mean()
    assert gap_in_sample > 0.02  # what the leak looks like: ~1/20 extra share on its own label
    assert abs(gap_oof) < 0.01


def test_a_value_seen_only_in_one_group_is_unknown_out_of_fold():
    """All rows of 'solo' share one group: no other fold has seen it, so its out-of-fold encoding is NaN."""
    values = pd.Series(["solo"] * 4 + ["tv"] * 40)
    y = np.array(["a"] * 4 + ["b"] * 40)
    groups = np.array(["g0"] * 4 + [f"g{i}" for i in range(1, 41)])
    enc = HashedTargetEncoder(min_count=1, cv=4)
    oof = enc.fit_transform(values, y, groups=groups)
    assert np.isnan(oof[:4]).all()
    assert not np.isnan(enc.transform(values[:4])).any()  # the full table knows it
    assert (oof[4:].argmax(axis=1) == 1).all()


def test_out_of_fold_shares_equal_a_table_fitted_without_the_fold():
    """Each row's encoding is exactly the full-fit encoding of an encoder that never saw its fold."""
    rng = np.random.default_rng(1)
    values = pd.Series(rng.choice(["x", "y", "z", "w"], 300))
    y = rng.choice(np.array(["a", "b", "c"]), 300)
    enc = HashedTargetEncoder(min_count=1, cv=3, random_state=7)
    oof = enc.fit_transform(values, y)
    folds = GroupKFold(n_splits=3, shuffle=True, random_state=7).split(values, y, np.arange(300))
    for train_idx, test_idx in folds:
        without = HashedTargetEncoder(min_count=1).fit(values[train_idx], y[train_idx])
        np.testing.assert_allclose(oof[test_idx], without.transform(values[test_idx]))
    assert not np.allclose(oof, enc.transform(values))


def test_product_features_share_columns_are_out_of_fold_in_fit_transform(small_products_xy):
    X, y = small_products_xy
    pf = ProductFeatures(max_text_features=5000, n_splits=3)
    oof = pf.fit_transform(X, y)
    full = pf.transform(X)
    names = list(pf.get_feature_names_out())
    shares = [i for i, n in enumerate(names) if n.startswith("subcategory_share_")]
    expected = pf.subcategory_shares_.fit_transform(
        pf.prepare(X)["subcategory"], y, groups=normalize_title(X["title"]).to_numpy()
    )
    np.testing.assert_allclose(oof[:, shares], expected)
    assert not np.allclose(np.nan_to_num(oof[:, shares]), np.nan_to_num(full[:, shares]))
