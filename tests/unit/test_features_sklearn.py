"""The feature transformers behave as scikit-learn estimators and hash deterministically."""

from __future__ import annotations

import pickle
import subprocess
import sys

import cloudpickle
import numpy as np
import pandas as pd
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from features import BrandPriceCross, HashingEncoder, NumericFeatures, ProductFeatures, TitleStats, hash_buckets
from features.target import HashedTargetEncoder

# ProductFeatures, BrandPriceCross and HashedTargetEncoder take named DataFrame columns (title,
# price, brand) that the generic checks (numeric arrays only) cannot build: they are covered by
# the explicit tests below (fit returns self, fitted state, names, clone, pickling).


@parametrize_with_checks([HashingEncoder(n_buckets=64), TitleStats()])
def test_sklearn_compatible(estimator, check):
    check(estimator)


def test_product_features_fit_returns_self_and_names(small_products_xy):
    X, y = small_products_xy
    pf = ProductFeatures(max_text_features=5000, n_splits=3)
    assert pf.fit(X, y) is pf
    out = pf.transform(X)
    names = pf.get_feature_names_out()
    assert out.shape == (len(X), len(names))
    assert len(set(names)) == len(names)
    assert set(pf.classes_) == set(y)
    # params are stored unchanged (sklearn contract) and clone works
    from sklearn.base import clone

    assert clone(pf).get_params() == pf.get_params()


def test_out_of_fold_scores_differ_from_in_sample(small_products_xy):
    """fit_transform gives cross-fitted text scores; transform gives the full model's scores."""
    X, y = small_products_xy
    pf = ProductFeatures(max_text_features=5000, n_splits=3)
    oof = pf.fit_transform(X, y)
    full = pf.transform(X)
    text = slice(pf.n_tabular, None)
    assert not np.allclose(oof[:, text], full[:, text])
    # the label-free columns are the same; the sub-category shares are cross-fitted too
    label_free = [i for i, n in enumerate(pf.get_feature_names_out()[: pf.n_tabular]) if "share" not in n]
    np.testing.assert_allclose(oof[:, label_free], full[:, label_free])


@pytest.mark.parametrize("dumps,loads", [(pickle.dumps, pickle.loads), (cloudpickle.dumps, pickle.loads)])
def test_pickle_round_trip(small_products_xy, dumps, loads):
    X, y = small_products_xy
    pf = ProductFeatures(max_text_features=5000, n_splits=3).fit(X, y)
    again = loads(dumps(pf))
    np.testing.assert_array_equal(pf.transform(X), again.transform(X))


def test_hashing_is_deterministic_across_processes():
    """Same bucket in another interpreter (Python's hash() is salted per process; ours must not be)."""
    values = pd.Series(["LG", "Samsung", "seller-42", "ünïcödé"])
    here = hash_buckets(values, 4096).tolist()
    code = (
        "import pandas as pd; from features.hashing import hash_buckets; "
        "print(hash_buckets(pd.Series(['LG','Samsung','seller-42','ünïcödé']), 4096).tolist())"
    )
    other = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123", "PYTHONPATH": "."},
    )
    assert other.stdout.strip() == str(here)


def test_hash_buckets_small_and_large_paths_agree():
    values = pd.Series(["a", None, "b", np.nan, "a"] * 10, dtype=object)
    big = hash_buckets(values, 128)
    small = np.concatenate([hash_buckets(values.iloc[i : i + 5].reset_index(drop=True), 128) for i in range(0, 50, 5)])
    np.testing.assert_array_equal(big, small)
    assert np.isnan(big[1]) and np.isnan(big[3])
    one = np.concatenate([hash_buckets(values.iloc[i : i + 1], 128) for i in range(50)])  # the one-value path
    np.testing.assert_array_equal(big, one)
    assert hash_buckets(np.asarray([7], dtype=object), 128)[0] == hash_buckets(["7", "x"], 128)[0]


def test_hashing_encoder_reports_unseen_values():
    enc = HashingEncoder(n_buckets=1 << 16).fit(pd.DataFrame({"brand": ["lg", "sony"]}))
    mask = enc.unseen_mask(pd.DataFrame({"brand": ["lg", "acme", None]}))
    assert mask[:, 0].tolist() == [False, True, False]


def test_brand_price_cross_separates_price_ranges():
    frame = pd.DataFrame({"title": ["Apple phone"] * 4, "brand": [None] * 4, "price": [10.0, 20.0, 50000.0, np.nan]})
    cross = BrandPriceCross(n_bins=2).fit(pd.DataFrame({"title": ["x"] * 4, "price": [5.0, 10.0, 40000.0, 90000.0]}))
    out = cross.transform(frame)[:, 0]
    assert out[0] == out[1] != out[2]
    assert not np.isnan(out[3])  # missing price is its own range


def test_numeric_features_keep_missing_as_nan():
    out = (
        NumericFeatures()
        .fit(None)
        .transform(pd.DataFrame({"price": [0.0, np.nan], "rating": [4.5, np.nan], "reviews_count": [99.0, 1.0]}))
    )
    assert out[0, 0] == 0.0 and np.isnan(out[1, 0]) and np.isnan(out[1, 1])
    assert out[0, 2] == pytest.approx(np.log1p(99.0))


def test_target_encoder_unknown_is_nan():
    enc = HashedTargetEncoder(min_count=1).fit(pd.Series(["tv", "tv", "shoes"]), np.array(["a", "a", "b"]))
    out = enc.transform(pd.Series(["tv", "never-seen", None]))
    assert out[0].argmax() == 0 and out[0].sum() == pytest.approx(1.0)
    assert np.isnan(out[1]).all() and np.isnan(out[2]).all()
