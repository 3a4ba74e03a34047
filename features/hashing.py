"""Deterministic hashing encoders for high-cardinality fields and the brand x price cross.

murmurhash3 with a fixed seed (never Python's salted ``hash()``) so a value maps to the same
bucket in every process, machine and Spark worker. Hashing happens once per distinct value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import murmurhash3_32
from sklearn.utils.validation import check_is_fitted

from features.text import derive_brand

HASH_SEED = 20231


def hash_buckets(values: pd.Series, n_buckets: int, seed: int = HASH_SEED) -> np.ndarray:
    """Bucket id per value (float, NaN for missing), hashing each distinct value once."""
    codes, uniques = pd.factorize(values.astype(object), use_na_sentinel=True)
    table = np.array(
        [murmurhash3_32(str(u), seed=seed, positive=True) % n_buckets for u in uniques],
        dtype="float64",
    )
    out = np.full(len(codes), np.nan)
    known = codes >= 0
    out[known] = table[codes[known]]
    return out


def _as_frame(X: object, columns: list[str]) -> pd.DataFrame:
    if isinstance(X, pd.DataFrame):
        return X
    arr = np.asarray(X, dtype=object)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    return pd.DataFrame(arr, columns=columns[: arr.shape[1]] if columns else None)


class HashingEncoder(TransformerMixin, BaseEstimator):
    """Map each categorical column to a hash bucket id (a LightGBM categorical feature).

    ``fit`` learns nothing about the mapping (it is fixed by the hash); it records the buckets
    seen in training so serving can report unseen values as out of distribution.
    """

    def __init__(self, n_buckets: int = 4096, seed: int = HASH_SEED) -> None:
        self.n_buckets = n_buckets
        self.seed = seed

    def fit(self, X: object, y: object = None) -> HashingEncoder:
        frame = _as_frame(X, [])
        self.feature_names_in_ = np.asarray([str(c) for c in frame.columns], dtype=object)
        self.n_features_in_ = frame.shape[1]
        self.seen_buckets_ = {
            str(c): np.unique(b[~np.isnan(b)])
            for c, b in zip(frame.columns, self._buckets(frame).T, strict=True)
        }
        return self

    def _buckets(self, frame: pd.DataFrame) -> np.ndarray:
        cols = [hash_buckets(frame.iloc[:, j], self.n_buckets, self.seed) for j in range(frame.shape[1])]
        return np.column_stack(cols) if cols else np.empty((len(frame), 0))

    def transform(self, X: object) -> np.ndarray:
        check_is_fitted(self, "seen_buckets_")
        frame = _as_frame(X, list(self.feature_names_in_))
        if frame.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {frame.shape[1]} features, but HashingEncoder is expecting "
                f"{self.n_features_in_} features as input"
            )
        return self._buckets(frame)

    def unseen_mask(self, X: object) -> np.ndarray:
        """Boolean (rows x columns): value present but its bucket never seen in training."""
        buckets = self.transform(X)
        seen = [self.seen_buckets_[str(c)] for c in self.feature_names_in_]
        return np.column_stack(
            [~np.isnan(b) & ~np.isin(b, s) for b, s in zip(buckets.T, seen, strict=True)]
        )

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        check_is_fitted(self, "seen_buckets_")
        return np.asarray([f"{c}_bucket" for c in self.feature_names_in_], dtype=object)


class BrandPriceCross(TransformerMixin, BaseEstimator):
    """Hash of (brand, price range): "Apple under 1,000" and "Apple over 50,000" differ.

    Price ranges are quantile bins of log price learned in ``fit``. Input columns: brand
    (derived from the title when missing), price, title.
    """

    def __init__(self, n_bins: int = 6, n_buckets: int = 8192, seed: int = HASH_SEED) -> None:
        self.n_bins = n_bins
        self.n_buckets = n_buckets
        self.seed = seed

    def fit(self, X: pd.DataFrame, y: object = None) -> BrandPriceCross:
        price = pd.to_numeric(X["price"], errors="coerce").to_numpy(dtype="float64")
        logp = np.log1p(price[np.isfinite(price) & (price >= 0)])
        qs = np.linspace(0, 1, self.n_bins + 1)[1:-1]
        self.bin_edges_ = np.unique(np.quantile(logp, qs)) if logp.size else np.array([])
        self.n_features_in_ = 3
        return self

    def price_range(self, price: np.ndarray) -> np.ndarray:
        """Price bin index per row; -1 where the price is missing."""
        check_is_fitted(self, "bin_edges_")
        with np.errstate(invalid="ignore", divide="ignore"):
            logp = np.log1p(np.clip(price, 0, None))
        bins = np.searchsorted(self.bin_edges_, logp, side="right").astype("int64")
        bins[~np.isfinite(price)] = -1
        return bins

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "bin_edges_")
        brand = derive_brand(X["title"], X.get("brand"))
        bins = self.price_range(pd.to_numeric(X["price"], errors="coerce").to_numpy(dtype="float64"))
        key = brand.astype(object).where(brand.notna(), "<nobrand>") + "|" + pd.Series(bins, index=brand.index).astype(str)
        return hash_buckets(key, self.n_buckets, self.seed).reshape(-1, 1)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return np.asarray(["brand_x_price_bucket"], dtype=object)
