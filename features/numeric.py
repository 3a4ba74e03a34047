"""Numeric transforms: log price, log review count, rating, with NaN kept as missing."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from features.schema import NUMERIC_FIELDS


class NumericFeatures(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """log1p(price), log1p(reviews_count), rating; LightGBM learns where missing values go."""

    def fit(self, X: pd.DataFrame, y: object = None) -> NumericFeatures:
        self.n_features_in_ = len(NUMERIC_FIELDS)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        cols = []
        for field in NUMERIC_FIELDS:
            values = (
                pd.to_numeric(X[field], errors="coerce").to_numpy(dtype="float64")
                if field in X
                else np.full(len(X), np.nan)
            )
            with np.errstate(invalid="ignore"):
                cols.append(values if field == "rating" else np.log1p(np.clip(values, 0, None)))
        return np.column_stack(cols)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return np.asarray(["log_price", "rating", "log_reviews_count"], dtype=object)
