"""Deterministic hashing encoders for high-cardinality fields and the brand x price cross.

murmurhash3 with a fixed seed (never Python's salted ``hash()``) so a value maps to the same
bucket in every process, machine and Spark worker. Hashing happens once per distinct value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import murmurhash3_32
from sklearn.utils.validation import check_is_fitted, validate_data

from features.numeric import float_values
from features.prepared import n_rows
from features.text import derive_brand_values, is_missing

HASH_SEED = 20231


#: str(value) -> murmurhash per seed; bounded. Serving sees the same sellers, brands and
#: sub-categories again and again, and a dict hit costs ~50 ns against ~400 ns for a hash.
_HASH_CACHE: dict[int, dict[str, int]] = {}
_HASH_CACHE_MAX = 200_000
#: Above this many values, distinct values are found with ``pd.factorize`` first.
_FACTORIZE_ROWS = 2048


def murmur_hash(text: str, seed: int = HASH_SEED) -> int:
    """:func:`murmur_hashes` of one string, through the same cache (no array for one value)."""
    cache = _HASH_CACHE.setdefault(seed, {})
    value = cache.get(text)
    if value is None:
        if len(cache) > _HASH_CACHE_MAX:
            cache.clear()
        value = cache[text] = murmurhash3_32(text, seed=seed, positive=True)
    return value


def murmur_hashes(texts: list[str], seed: int = HASH_SEED) -> np.ndarray:
    """Positive murmurhash3 of each string (int64), computed once per string per process."""
    cache = _HASH_CACHE.setdefault(seed, {})
    out = np.fromiter((cache.get(t, -1) for t in texts), dtype=np.int64, count=len(texts))
    for i in np.flatnonzero(out < 0).tolist():  # the misses, hashed and stored one by one
        out[i] = murmur_hash(texts[i], seed)
    return out


def hash_buckets(values: pd.Series | np.ndarray | list, n_buckets: int, seed: int = HASH_SEED) -> np.ndarray:
    """Bucket id per value (float, NaN for missing)."""
    if len(values) == 1:  # a one-row request: a quarter of the array path's cost
        value = values.iloc[0] if isinstance(values, pd.Series) else values[0]
        return np.full(1, np.nan if is_missing(value) else float(murmur_hash(str(value), seed) % n_buckets))
    if len(values) <= _FACTORIZE_ROWS:  # small requests: a direct loop beats factorize's fixed cost
        arr = values.to_numpy(dtype=object) if isinstance(values, pd.Series) else np.asarray(values, dtype=object)
        present = np.fromiter((not is_missing(v) for v in arr), dtype=bool, count=len(arr))
        out = np.full(len(arr), np.nan)
        out[present] = murmur_hashes([str(v) for v in arr[present]], seed) % n_buckets
        return out
    values = values.astype(object) if isinstance(values, pd.Series) else np.asarray(values, dtype=object)
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    table = (murmur_hashes([str(u) for u in uniques], seed) % n_buckets).astype("float64")
    out = np.full(len(codes), np.nan)
    known = codes >= 0
    out[known] = table[codes[known]]
    return out


class HashingEncoder(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Map each categorical column to a hash bucket id (a LightGBM categorical feature).

    ``fit`` learns nothing about the mapping (it is fixed by the hash); it records the buckets
    seen in training so serving can report unseen values as out of distribution.
    """

    def __init__(self, n_buckets: int = 4096, seed: int = HASH_SEED) -> None:
        self.n_buckets = n_buckets
        self.seed = seed

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        return tags

    def _validated(self, X: object, reset: bool) -> pd.DataFrame:
        columns = [str(c) for c in X.columns] if isinstance(X, pd.DataFrame) else None
        arr = validate_data(self, X, dtype=None, ensure_all_finite=False, reset=reset)
        if reset:
            self.columns_ = columns or [f"x{i}" for i in range(arr.shape[1])]
        return pd.DataFrame(arr, columns=self.columns_)

    def fit(self, X: object, y: object = None) -> HashingEncoder:
        frame = self._validated(X, reset=True)
        self.seen_buckets_ = {
            c: np.unique(b[~np.isnan(b)]) for c, b in zip(self.columns_, self._hash_columns(frame).T, strict=True)
        }
        return self

    def _hash_columns(self, frame: pd.DataFrame | dict[str, np.ndarray]) -> np.ndarray:
        cols = [hash_buckets(frame[c], self.n_buckets, self.seed) for c in self.columns_]
        return np.column_stack(cols) if cols else np.empty((n_rows(frame), 0))

    def transform(self, X: object) -> np.ndarray:
        check_is_fitted(self, "seen_buckets_")
        return self._hash_columns(self._validated(X, reset=False))

    def transform_columns(self, frame: pd.DataFrame | dict[str, np.ndarray]) -> np.ndarray:
        """Serving fast path: ``transform`` for a frame already holding the fitted columns by name.

        Skips scikit-learn's input validation, which costs more than the hashing for one row.
        """
        check_is_fitted(self, "seen_buckets_")
        return self._hash_columns(frame)

    def unseen_mask(self, X: object) -> np.ndarray:
        """Boolean (rows x columns): value present but its bucket never seen in training."""
        buckets = self.transform(X)
        seen = [self.seen_buckets_[c] for c in self.columns_]
        return np.column_stack([~np.isnan(b) & ~np.isin(b, s) for b, s in zip(buckets.T, seen, strict=True)])

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        check_is_fitted(self, "seen_buckets_")
        return np.asarray([f"{c}_bucket" for c in self.columns_], dtype=object)


class BrandPriceCross(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
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

    def transform(self, X: pd.DataFrame | dict[str, np.ndarray]) -> np.ndarray:
        """Bucket per row; ``X`` a DataFrame or a dict of columns (brand, price, title)."""
        check_is_fitted(self, "bin_edges_")
        brand = derive_brand_values(np.asarray(X["title"], dtype=object), X.get("brand"))
        bins = self.price_range(float_values(X["price"]))
        key = [f"{b or '<nobrand>'}|{r}" for b, r in zip(brand.tolist(), bins.tolist(), strict=True)]
        return hash_buckets(key, self.n_buckets, self.seed).reshape(-1, 1)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return np.asarray(["brand_x_price_bucket"], dtype=object)
