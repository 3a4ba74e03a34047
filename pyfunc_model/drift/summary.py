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
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from features.hashing import hash_buckets, murmur_hashes
from features.text import as_strings, distinct

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

#: Title text -> tokens: lower case; ASCII punctuation (a byte-table translate, ~50x faster
#: than a regex) and a few common Unicode punctuation marks become spaces. The same function
#: builds the reference, so training and serving tokenise identically.
_ASCII_PUNCT = b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\t\n\r\x0b\x0c"
_BYTE_TABLE = bytes.maketrans(_ASCII_PUNCT, b" " * len(_ASCII_PUNCT))
_UNICODE_PUNCT = "\xa0–—‘’“”•·×₹€£…®™°±"
#: Batches up to this many rows are tokenised in Python (see :func:`_split_tokens`).
_PYTHON_SPLIT_ROWS = 64


@dataclass
class RowSummary:
    """``table``: rows x :data:`COLUMNS` (NaN = missing); ``tokens``: rows x 256 token counts."""

    table: np.ndarray
    tokens: np.ndarray

    def __len__(self) -> int:
        return self.table.shape[0]

    def col(self, name: str) -> np.ndarray:
        return self.table[:, COL[name]]


def _normalised_rows(titles: pd.Series) -> list[str]:
    """Lower-cased titles with punctuation as spaces: one translate over the joined batch."""
    parts = titles.tolist()
    if "\x00" in "".join(parts):  # the row separator must not occur inside a title
        parts = [t.replace("\x00", " ") for t in parts]
    text = "\x00".join(parts).lower().encode("utf-8").translate(_BYTE_TABLE).decode("utf-8")
    for ch in _UNICODE_PUNCT:
        if ch in text:
            text = text.replace(ch, " ")
    return text.split("\x00")


def _split_tokens(rows: list[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(row of each token, code of each token, distinct tokens) for whitespace-split ``rows``.

    Large batches split and de-duplicate in Arrow (C++), so only distinct tokens reach Python;
    small ones in Python, where Arrow's per-call cost dominates. Arrow's ``utf8_split_whitespace``
    and ``str.split()`` split on the same 29 code points (checked over all of Unicode; tested).
    """
    if len(rows) <= _PYTHON_SPLIT_ROWS:
        index: dict[str, int] = {}
        row_of, codes = [], []
        for i, row in enumerate(rows):
            for token in row.split():
                row_of.append(i)
                codes.append(index.setdefault(token, len(index)))
        return np.asarray(row_of, dtype=np.int64), np.asarray(codes, dtype=np.int64), list(index)
    lists = pc.utf8_split_whitespace(pa.array(rows, pa.string()))
    encoded = pc.dictionary_encode(lists.flatten())
    codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    uniques = encoded.dictionary.to_pylist()
    row_of = np.repeat(np.arange(len(rows)), np.diff(lists.offsets.to_numpy()))
    keep = ~np.asarray([u == "" for u in uniques], dtype=bool)[codes]  # Arrow keeps empty tokens
    return row_of[keep], codes[keep], uniques


def title_tokens(titles: pd.Series) -> tuple[sp.csr_matrix, np.ndarray]:
    """(rows x 2**17 hashed token counts, characters in non-numeric tokens per row)."""
    n = len(titles)
    if n == 0:
        return sp.csr_matrix((0, TOKEN_FEATURES), dtype=np.float32), np.zeros(0)
    rows, codes, uniques = _split_tokens(_normalised_rows(titles))
    ids = murmur_hashes(uniques) % TOKEN_FEATURES  # hash_buckets' hash, through its per-process cache
    wordy = np.fromiter(map(len, uniques), dtype="float64", count=len(uniques))
    wordy[np.fromiter(map(str.isdigit, uniques), dtype=bool, count=len(uniques))] = 0.0
    counts = sp.csr_matrix((np.ones(codes.size, dtype=np.float32), (rows, ids[codes])), shape=(n, TOKEN_FEATURES))
    counts.sum_duplicates()
    return counts, np.bincount(rows, weights=wordy[codes], minlength=n)


def title_token_matrix(titles: pd.Series) -> sp.csr_matrix:
    """Token counts hashed into 2**17 columns with ``features.hashing.hash_buckets``."""
    return title_tokens(titles)[0]


def token_histogram(tokens: sp.csr_matrix, width: int = TEXT_BUCKETS) -> np.ndarray:
    """Fold hashed token columns into ``width`` buckets; uint8 keeps the window small."""
    n = tokens.shape[0]
    folded = sp.csr_matrix((tokens.data.copy(), tokens.indices % width, tokens.indptr.copy()), shape=(n, width))
    folded.sum_duplicates()
    out = np.zeros((n, width), dtype=np.uint8)  # filled directly: no n x width float temporary
    out[np.repeat(np.arange(n), np.diff(folded.indptr)), folded.indices] = np.minimum(folded.data, 255)
    return out


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

    raw = as_strings(prepared["title"])
    unique, inverse = distinct(raw)  # repeated titles are tokenised once
    tokens, letters = title_tokens(pd.Series(unique, dtype=object))
    n_tokens = np.asarray(tokens.sum(axis=1)).ravel()
    chars = np.fromiter(map(len, unique), dtype="float64", count=len(unique))
    visible = chars - np.fromiter((t.count(" ") for t in unique), dtype="float64", count=len(unique))
    with np.errstate(invalid="ignore", divide="ignore"):
        oov_rate = np.where(n_tokens > 0, oov_counts(tokens, token_seen) / n_tokens, np.nan)
        letter_share = np.where(visible > 0, letters / visible, 0.0)
    histogram = token_histogram(tokens)
    if inverse is not None:
        n_tokens, chars, oov_rate, letter_share = (a[inverse] for a in (n_tokens, chars, oov_rate, letter_share))
        histogram = histogram[inverse]
    table[:, COL["title_tokens"]] = n_tokens
    table[:, COL["title_oov_rate"]] = oov_rate
    table[:, COL["title_chars"]] = chars
    table[:, COL["title_letter_share"]] = letter_share
    return RowSummary(table=table, tokens=histogram)


def summarize(prepared: pd.DataFrame, reference: DriftReference) -> RowSummary:
    """Monitored values of ``prepared`` against a built reference (seen sets, price medians)."""
    return build_table(
        prepared,
        {f: reference.categorical[f].n_bits for f in CATEGORICAL},
        {f: reference.seen_mask(f) for f in CATEGORICAL},
        reference.token_seen_mask(),
        reference.subcategory_price_lookup(),
    )


def token_shares(tokens: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-row token shares folded to ``k`` buckets (bucket b -> b % k), for rows with tokens."""
    total = tokens.sum(axis=1).astype("float64")
    rows = total > 0
    folded = tokens[rows].astype("float64")
    if k < folded.shape[1]:
        folded = folded.reshape(folded.shape[0], -1, k).sum(axis=1)
    return folded / total[rows, None], rows
