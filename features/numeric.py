"""Numeric transforms: log price, log review count, rating, with NaN kept as missing."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from features.prepared import n_rows
from features.schema import NUMERIC_FIELDS


def float_values(values: pd.Series | np.ndarray) -> np.ndarray:
    """Float64 array of ``values``, non-numbers as NaN; a float64 array (a prepared column) as is."""
    if isinstance(values, np.ndarray) and values.dtype == np.float64:
        return values
    out = pd.to_numeric(values, errors="coerce")
    return out.to_numpy(dtype="float64") if isinstance(out, pd.Series) else np.asarray(out, dtype="float64")


class NumericFeatures(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """log1p(price), log1p(reviews_count), rating; LightGBM learns where missing values go."""

    def fit(self, X: pd.DataFrame, y: object = None) -> NumericFeatures:
        self.n_features_in_ = len(NUMERIC_FIELDS)
        return self

    def transform(self, X: pd.DataFrame | dict[str, np.ndarray]) -> np.ndarray:
        """``X``: a DataFrame or a dict of columns (see ``features.prepared``)."""
        cols = []
        for field in NUMERIC_FIELDS:
            values = float_values(X[field]) if field in X else np.full(n_rows(X), np.nan)
            with np.errstate(invalid="ignore"):
                cols.append(values if field == "rating" else np.log1p(np.clip(values, 0, None)))
        return np.column_stack(cols)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return np.asarray(["log_price", "rating", "log_reviews_count"], dtype=object)
