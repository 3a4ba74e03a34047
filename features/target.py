"""Class distribution per hashed category value (a smoothed target encoding).

Used for ``subcategory``: in real listings each sub-category belongs to one category, so
its class distribution is the strongest single signal when the field is present. Values
never seen in training, and missing values, encode as NaN so the booster treats them as
"unknown" exactly as in title-only training rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from features.hashing import hash_buckets


class HashedTargetEncoder(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Smoothed class shares of each hashed value of one column (``min_count`` rows or more)."""

    def __init__(self, n_buckets: int = 4096, smoothing: float = 1.0, min_count: int = 3) -> None:
        self.n_buckets = n_buckets
        self.smoothing = smoothing
        self.min_count = min_count

    def fit(self, X: pd.Series | pd.DataFrame, y: np.ndarray) -> HashedTargetEncoder:
        values = X.iloc[:, 0] if isinstance(X, pd.DataFrame) else pd.Series(X)
        buckets = hash_buckets(values.reset_index(drop=True), self.n_buckets)
        y = np.asarray(y)
        self.classes_ = np.unique(y)
        known = ~np.isnan(buckets)
        table = pd.crosstab(
            buckets[known].astype(int), pd.Categorical(y[known], categories=self.classes_), dropna=False
        )
        counts = table.to_numpy(dtype="float64")
        keep = counts.sum(axis=1) >= self.min_count
        prior = np.bincount(np.searchsorted(self.classes_, y), minlength=len(self.classes_)) / len(y)
        shares = (counts[keep] + self.smoothing * prior) / (counts[keep].sum(axis=1, keepdims=True) + self.smoothing)
        self.bucket_ids_ = table.index.to_numpy()[keep]
        self.shares_ = shares
        self.n_features_in_ = 1
        return self

    def transform(self, X: pd.Series | pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "shares_")
        values = X.iloc[:, 0] if isinstance(X, pd.DataFrame) else pd.Series(X)
        buckets = hash_buckets(values.reset_index(drop=True), self.n_buckets)
        pos = np.searchsorted(self.bucket_ids_, np.nan_to_num(buckets, nan=-1))
        pos = np.clip(pos, 0, max(len(self.bucket_ids_) - 1, 0))
        found = (len(self.bucket_ids_) > 0) & ~np.isnan(buckets)
        found &= self.bucket_ids_[pos] == buckets if len(self.bucket_ids_) else False
        out = np.full((len(buckets), len(self.classes_)), np.nan)
        out[found] = self.shares_[pos[found]]
        return out

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        check_is_fitted(self, "shares_")
        return np.asarray([f"subcategory_share_{i}" for i in range(len(self.classes_))], dtype=object)
