"""Per-row monitored values: the only thing the drift window keeps (a few floats per row).

One pass over a prepared frame gives every value the tests and the OOD reasons need, so
``predict`` can compute it once and hand it to both :func:`row_ood_reasons` and
:meth:`DriftMonitor.check`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

from features.hashing import hash_buckets
from features.text import normalize_title

if TYPE_CHECKING:
    from pyfunc_model.drift.reference import DriftReference

CATEGORICAL = ("subcategory", "brand", "seller_id")
NUMERIC = ("price", "price_vs_subcategory", "rating", "reviews_count", "title_chars", "title_oov_rate")
#: Columns of :attr:`RowSummary.table`, in order.
COLUMNS = (
    *NUMERIC,
    *(f"{f}_bucket" for f in CATEGORICAL),
    *(f"{f}_unseen" for f in CATEGORICAL),
    "title_tokens",
    "title_letter_share",
)
COL = {name: i for i, name in enumerate(COLUMNS)}
#: Token-bucket histogram width kept per row (the text-content signal).
TEXT_BUCKETS = 256
TOKEN_FEATURES = 2**17

_VECTORIZER = HashingVectorizer(
    n_features=TOKEN_FEATURES,
    analyzer="word",
    token_pattern=r"(?u)\b\w+\b",
    lowercase=False,
    alternate_sign=False,
    norm=None,
    dtype=np.float32,
)


@dataclass
class RowSummary:
    """``table``: rows x :data:`COLUMNS` (NaN = missing); ``tokens``: rows x 256 token counts."""

    table: np.ndarray
    tokens: np.ndarray

    def __len__(self) -> int:
        return self.table.shape[0]

    def col(self, name: str) -> np.ndarray:
        return self.table[:, COL[name]]


def title_token_matrix(titles: pd.Series) -> sp.csr_matrix:
    """Token counts hashed into 2**17 columns (sklearn's murmurhash, the same in every process)."""
    return _VECTORIZER.transform(normalize_title(titles))


def token_histogram(tokens: sp.csr_matrix, width: int = TEXT_BUCKETS) -> np.ndarray:
    """Fold hashed token columns into ``width`` buckets; uint8 keeps the window small."""
    folded = sp.csr_matrix((tokens.data, tokens.indices % width, tokens.indptr), shape=(tokens.shape[0], width))
    folded.sum_duplicates()
    return np.minimum(folded.toarray(), 255).astype(np.uint8)


def oov_counts(tokens: sp.csr_matrix, seen: np.ndarray) -> np.ndarray:
    """Per-row number of token occurrences whose hashed id was never seen in training."""
    unseen = sp.csr_matrix((tokens.data * ~seen[tokens.indices], tokens.indices, tokens.indptr), shape=tokens.shape)
    return np.asarray(unseen.sum(axis=1)).ravel()


def _log1p(values: pd.Series) -> np.ndarray:
    arr = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log1p(np.clip(arr, 0, None))


def build_table(
    prepared: pd.DataFrame,
    n_bits: dict[str, int],
    seen: dict[str, np.ndarray | None],
    token_seen: np.ndarray,
    subcat_price: tuple[np.ndarray, np.ndarray, float],
) -> RowSummary:
    """Compute every monitored value for ``prepared`` given seen sets and price medians."""
    n = len(prepared)
    table = np.full((n, len(COLUMNS)), np.nan)
    for field in CATEGORICAL:
        values = prepared[field] if field in prepared.columns else pd.Series([None] * n, dtype=object)
        buckets = hash_buckets(values.reset_index(drop=True), n_bits[field])
        table[:, COL[f"{field}_bucket"]] = buckets
        mask = seen.get(field)
        if mask is not None:
            present = ~np.isnan(buckets)
            flag = np.full(n, np.nan)
            flag[present] = ~mask[buckets[present].astype(np.int64)]
            table[:, COL[f"{field}_unseen"]] = flag
    for field in ("price", "rating", "reviews_count"):
        col = prepared[field] if field in prepared.columns else pd.Series(np.nan, index=range(n))
        table[:, COL[field]] = col.to_numpy(dtype="float64") if field == "rating" else _log1p(col)
    keys, medians, global_median = subcat_price
    sub = table[:, COL["subcategory_bucket"]]
    base = np.full(n, global_median)
    if keys.size:
        pos = np.clip(np.searchsorted(keys, sub), 0, keys.size - 1)
        hit = ~np.isnan(sub) & (keys[pos] == sub)
        base[hit] = medians[pos[hit]]
    table[:, COL["price_vs_subcategory"]] = table[:, COL["price"]] - base

    titles = prepared["title"].fillna("").astype(str).reset_index(drop=True)
    tokens = title_token_matrix(titles)
    n_tokens = np.asarray(tokens.sum(axis=1)).ravel()
    table[:, COL["title_tokens"]] = n_tokens
    with np.errstate(invalid="ignore", divide="ignore"):
        table[:, COL["title_oov_rate"]] = np.where(n_tokens > 0, oov_counts(tokens, token_seen) / n_tokens, np.nan)
    chars = titles.str.len().to_numpy(dtype="float64")
    table[:, COL["title_chars"]] = chars
    letters = titles.str.count(r"[^\W\d_]").to_numpy(dtype="float64")
    visible = chars - titles.str.count(r"\s").to_numpy(dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        table[:, COL["title_letter_share"]] = np.where(visible > 0, letters / visible, 0.0)
    return RowSummary(table=table, tokens=token_histogram(tokens))


def summarize(prepared: pd.DataFrame, reference: DriftReference) -> RowSummary:
    """Monitored values of ``prepared`` against a built reference (seen sets, price medians)."""
    return build_table(
        prepared,
        {f: reference.categorical[f].n_bits for f in CATEGORICAL},
        {f: reference.seen_mask(f) for f in CATEGORICAL},
        reference.token_seen_mask(),
        reference.subcategory_price_lookup(),
    )
