"""Class distribution per hashed category value (a smoothed target encoding), cross-fitted.

Used for ``subcategory``: in real listings each sub-category belongs to one category, so
its class distribution is the strongest single signal when the field is present. Values
never seen in training, and missing values, encode as NaN so the booster treats them as
"unknown" exactly as in title-only training rows.

As scikit-learn's ``TargetEncoder``: ``fit_transform`` returns OUT-OF-FOLD encodings (each row
encoded by a table that never saw its label), ``transform`` uses the table fitted on all rows.
An in-sample encoding would hand the booster's early-stopping and temperature rows their own
labels, so both would be tuned on shares that are more certain than any served row's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.model_selection import GroupKFold
from sklearn.utils.validation import check_is_fitted

from features.hashing import hash_buckets


def _values(X: pd.Series | pd.DataFrame | np.ndarray) -> pd.Series | np.ndarray:
    """The one column's values; a numpy column (serving's prepared input) is used as it is."""
    if isinstance(X, np.ndarray):
        return X
    values = X.iloc[:, 0] if isinstance(X, pd.DataFrame) else pd.Series(X)
    return values.reset_index(drop=True)


class HashedTargetEncoder(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Smoothed class shares of each hashed value of one column (``min_count`` rows or more).

    ``cv`` folds (shuffled, grouped when ``fit_transform`` gets ``groups``) give the training
    rows' out-of-fold encodings.
    """

    def __init__(
        self, n_buckets: int = 4096, smoothing: float = 1.0, min_count: int = 3, cv: int = 5, random_state: int = 0
    ) -> None:
        self.n_buckets = n_buckets
        self.smoothing = smoothing
        self.min_count = min_count
        self.cv = cv
        self.random_state = random_state

    def _table(self, buckets: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(bucket ids, class shares per bucket) from labelled rows; classes are ``self.classes_``."""
        k = len(self.classes_)
        y_idx = np.searchsorted(self.classes_, y)
        known = ~np.isnan(buckets)
        ids, inverse = np.unique(buckets[known].astype(np.int64), return_inverse=True)
        counts = np.bincount(inverse * k + y_idx[known], minlength=len(ids) * k).reshape(len(ids), k).astype("float64")
        keep = counts.sum(axis=1) >= self.min_count
        prior = np.bincount(y_idx, minlength=k) / max(len(y), 1)
        shares = (counts[keep] + self.smoothing * prior) / (counts[keep].sum(axis=1, keepdims=True) + self.smoothing)
        return ids[keep].astype("float64"), shares

    def _encode(self, buckets: np.ndarray, bucket_ids: np.ndarray, shares: np.ndarray) -> np.ndarray:
        out = np.full((len(buckets), len(self.classes_)), np.nan)
        if len(bucket_ids) == 0:
            return out
        pos = np.clip(np.searchsorted(bucket_ids, np.nan_to_num(buckets, nan=-1)), 0, len(bucket_ids) - 1)
        found = ~np.isnan(buckets) & (bucket_ids[pos] == buckets)
        out[found] = shares[pos[found]]
        return out

    def fit(self, X: pd.Series | pd.DataFrame, y: np.ndarray) -> HashedTargetEncoder:
        buckets = hash_buckets(_values(X), self.n_buckets)
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        self.bucket_ids_, self.shares_ = self._table(buckets, y)
        self.n_features_in_ = 1
        return self

    def fit_transform(
        self, X: pd.Series | pd.DataFrame, y: np.ndarray = None, groups: np.ndarray | None = None, **fit_params: object
    ) -> np.ndarray:
        """Fit on all rows; return each row's encoding by the table of the folds it is not in.

        ``groups`` (e.g. normalised titles) keep repeated listings of one product in one fold,
        so a row is never encoded with its twin's label either.
        """
        if y is None:
            raise ValueError("HashedTargetEncoder.fit_transform needs the labels y")
        self.fit(X, y)
        buckets = hash_buckets(_values(X), self.n_buckets)
        y = np.asarray(y)
        # integer group codes: GroupKFold's shuffling is slow on strings
        groups = np.arange(len(y)) if groups is None else pd.factorize(np.asarray(groups, dtype=object))[0]
        n_splits = min(self.cv, len(np.unique(groups)))
        if n_splits < 2:
            return self._encode(buckets, self.bucket_ids_, self.shares_)
        out = np.full((len(y), len(self.classes_)), np.nan)
        folds = GroupKFold(n_splits=n_splits, shuffle=True, random_state=self.random_state)
        for train_idx, test_idx in folds.split(buckets, y, groups):
            ids, shares = self._table(buckets[train_idx], y[train_idx])
            out[test_idx] = self._encode(buckets[test_idx], ids, shares)
        return out

    def transform(self, X: pd.Series | pd.DataFrame | np.ndarray) -> np.ndarray:
        check_is_fitted(self, "shares_")
        return self._encode(hash_buckets(_values(X), self.n_buckets), self.bucket_ids_, self.shares_)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        check_is_fitted(self, "shares_")
        return np.asarray([f"subcategory_share_{i}" for i in range(len(self.classes_))], dtype=object)
