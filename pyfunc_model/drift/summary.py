"""Per-row monitored values: the only thing the drift window keeps (a few floats per row).

One pass over a prepared frame gives every value the tests and the OOD reasons need, so
``predict`` computes it once and hands it to both :func:`ood_flags` and :meth:`DriftMonitor.check`.
WHICH values are computed is declared in :mod:`pyfunc_model.drift.specs`; this module holds the
shared, vectorised building blocks (:class:`RowContext`) those declarations read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from features.hashing import hash_buckets, murmur_hash, murmur_hashes
from features.sparse_rows import row_positions
from features.text import as_strings, distinct


class PricePredictor(Protocol):
    """What the per-row values need of the price model (``drift.signals.price_given_title.PriceLookup``)."""

    def predict_both(self, words: TokenRows, subcategory: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...

    def spread(self, nearest: np.ndarray, title_only: bool = False) -> np.ndarray: ...


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
#: Up to this many titles are tokenised and counted title by title in plain Python
#: (:func:`_tokens_one_by_one`): 13 us for one title against 31 us through the arrays, which
#: win from three titles on.
_ONE_BY_ONE_ROWS = 2


#: The price residual is computed for at most this many distinct titles per call (evenly spaced):
#: the nearest-neighbour search is the costliest per-row value, and the tests need no more.
MAX_RESIDUAL_TITLES = 256


@dataclass
class Lookups:
    """What the per-row values are computed against: seen sets and the price model.

    Serving reads them from the reference; training builds one per fold (from the other folds'
    rows) so that every value of a training row is computed out of fold, as new rows will be.
    """

    n_bits: dict[str, int]
    seen: dict[str, np.ndarray | None]
    token_seen: np.ndarray
    price: PricePredictor
    #: state of each fitted signal (``drift.signals``), by signal name
    fitted: dict[str, dict[str, Any]] = field(default_factory=dict)


def _normalised_rows(titles: pd.Series | list[str]) -> list[str]:
    """Lower-cased titles with punctuation as spaces: one translate over the joined batch."""
    parts = titles.tolist() if isinstance(titles, pd.Series) else list(titles)
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


@dataclass
class TokenRows:
    """Hashed title tokens of each row in CSR layout: ``indptr``, ``indices`` (sorted within a row),
    float32 ``data`` (counts). Plain arrays: a scipy matrix costs tens of microseconds to build,
    copy or sum, most of a one-row request's summary; :meth:`tocsr` gives one where it is wanted."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.indptr) - 1, TOKEN_FEATURES)

    def row_of(self) -> np.ndarray:
        return np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))

    def row_sums(self, weights: np.ndarray | None = None) -> np.ndarray:
        """float32 sum of ``data`` (times ``weights`` per entry) per row, as scipy sums a float32 matrix
        (exact: counts are small integers)."""
        values = self.data if weights is None else self.data * weights
        return np.bincount(self.row_of(), weights=values, minlength=self.shape[0]).astype(np.float32)

    def presence(self, rows: np.ndarray | None = None) -> TokenRows:
        """The listed rows (all by default) with every count set to 1."""
        if rows is None:
            return TokenRows(self.indptr, self.indices, np.ones_like(self.data))
        at, sizes = row_positions(self.indptr, rows)
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(sizes, out=indptr[1:])
        return TokenRows(indptr, self.indices[at], np.ones(at.size, dtype=self.data.dtype))

    def tocsr(self) -> sp.csr_matrix:
        return sp.csr_matrix((self.data, self.indices, self.indptr), shape=self.shape)


def title_tokens(titles: pd.Series | list[str]) -> tuple[TokenRows, np.ndarray]:
    """(rows x 2**17 hashed token counts, characters in non-numeric tokens per row)."""
    n = len(titles)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return TokenRows(np.zeros(1, dtype=np.int64), empty, np.zeros(0, dtype=np.float32)), np.zeros(0)
    if n <= _ONE_BY_ONE_ROWS:
        return _tokens_one_by_one(_normalised_rows(titles))
    rows, codes, uniques = _split_tokens(_normalised_rows(titles))
    ids = murmur_hashes(uniques) % TOKEN_FEATURES  # hash_buckets' hash, through its per-process cache
    wordy = np.fromiter(map(len, uniques), dtype="float64", count=len(uniques))
    wordy[np.fromiter(map(str.isdigit, uniques), dtype=bool, count=len(uniques))] = 0.0
    # rows are in order, so (row, id) keys sort into CSR order; equal keys are one count
    keys, counts = np.unique(rows * TOKEN_FEATURES + ids[codes].astype(np.int64), return_counts=True)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys // TOKEN_FEATURES, minlength=n), out=indptr[1:])
    tokens = TokenRows(indptr, keys % TOKEN_FEATURES, counts.astype(np.float32))
    return tokens, np.bincount(rows, weights=wordy[codes], minlength=n)


def _tokens_one_by_one(rows: list[str]) -> tuple[TokenRows, np.ndarray]:
    """:func:`title_tokens` of a few normalised titles, each counted in a dict (the same hashes,
    CSR order and counts as the array path; tested)."""
    indptr, indices, counts, letters = [0], [], [], []
    for row in rows:
        ids: dict[int, int] = {}
        chars = 0
        for token in row.split():
            key = murmur_hash(token) % TOKEN_FEATURES
            ids[key] = ids.get(key, 0) + 1
            if not token.isdigit():
                chars += len(token)
        for key in sorted(ids):
            indices.append(key)
            counts.append(ids[key])
        indptr.append(len(indices))
        letters.append(chars)
    tokens = TokenRows(
        np.asarray(indptr, dtype=np.int64), np.asarray(indices, dtype=np.int64), np.asarray(counts, dtype=np.float32)
    )
    return tokens, np.asarray(letters, dtype="float64")


def title_token_matrix(titles: pd.Series) -> sp.csr_matrix:
    """Token counts hashed into 2**17 columns with ``features.hashing.hash_buckets``."""
    return title_tokens(titles)[0].tocsr()


def token_histogram(tokens: TokenRows, width: int = TEXT_BUCKETS) -> np.ndarray:
    """Fold hashed token columns into ``width`` buckets; uint8 keeps the window small."""
    n = tokens.shape[0]
    folded = np.bincount(
        tokens.row_of() * width + tokens.indices % width, weights=tokens.data, minlength=n * width
    ).reshape(n, width)
    return np.minimum(folded, 255).astype(np.uint8)


def oov_counts(tokens: TokenRows, seen: np.ndarray) -> np.ndarray:
    """Per-row number of token occurrences whose hashed id was never seen in training."""
    return tokens.row_sums(~seen[tokens.indices])


def _log1p(values: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log1p(np.maximum(values, 0))  # NaN stays NaN


#: What the per-row values are computed from: a prepared DataFrame (training, reports) or the
#: same canonical columns as numpy arrays (``predict``: no pandas objects on the hot path).
PreparedColumns = pd.DataFrame | Mapping[str, np.ndarray]


def concat_columns(parts: list[PreparedColumns]) -> PreparedColumns:
    """The rows of several prepared requests as one, in order."""
    if len(parts) == 1:
        return parts[0]
    if all(isinstance(p, pd.DataFrame) for p in parts):
        return pd.concat(parts, ignore_index=True)
    names = [name for name in parts[0] if all(name in p for p in parts)]
    return {name: np.concatenate([np.asarray(p[name]) for p in parts]) for name in names}


class RowContext:
    """Lazily computed, shared building blocks of the per-row values of one prepared frame.

    Each is computed at most once per frame whatever number of signals read it; titles are
    tokenised once per distinct title.
    """

    def __init__(
        self,
        prepared: PreparedColumns,
        lookups: Lookups,
        max_residual_titles: int | None = MAX_RESIDUAL_TITLES,
        every_profile: bool = False,
    ) -> None:
        """``every_profile``: give every row the values of every input profile it could be sent as
        (training: the title-only price residual of rows that do have a sub-category), so each
        profile's reference holds every training row."""
        self.prepared = prepared
        self.lookups = lookups
        self.max_residual_titles = max_residual_titles
        self.every_profile = every_profile
        self._buckets: dict[str, np.ndarray] = {}
        #: values a signal module computes once per frame and reads for several signals
        self.cache: dict[str, Any] = {}
        self.n = len(prepared) if isinstance(prepared, pd.DataFrame) else len(prepared["title"])

    def _column(self, field: str) -> np.ndarray | None:
        if isinstance(self.prepared, pd.DataFrame):
            return self.prepared[field].to_numpy() if field in self.prepared.columns else None
        return self.prepared.get(field)

    def number(self, field: str) -> np.ndarray:
        values = self._column(field)
        if values is None:
            return np.full(self.n, np.nan)
        if values.dtype == np.float64:  # canonical numeric columns: already float64 with NaN
            return values
        return pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype="float64")

    def log1p(self, field: str) -> np.ndarray:
        return _log1p(self.number(field))

    def missing(self, field: str) -> np.ndarray:
        values = self.bucket(field) if field in self.lookups.n_bits else self.number(field)
        return np.isnan(values).astype("float64")

    def bucket(self, field: str) -> np.ndarray:
        if field not in self._buckets:
            col = self._column(field)
            values = np.full(self.n, None, dtype=object) if col is None else col
            self._buckets[field] = hash_buckets(values, self.lookups.n_bits[field])
        return self._buckets[field]

    def fitted_value(self, signal: Any) -> np.ndarray:
        """A fitted signal's per-row value (``drift.signals``); NaN when the reference has no state for it."""
        state = self.lookups.fitted.get(signal.name)
        return np.full(self.n, np.nan) if state is None else signal.values(self, state)

    def unseen(self, field: str) -> np.ndarray:
        """1.0 unseen in training, 0.0 seen, NaN when absent (or the field is not monitored)."""
        buckets, mask = self.bucket(field), self.lookups.seen.get(field)
        flag = np.full(self.n, np.nan)
        if mask is not None:
            present = ~np.isnan(buckets)
            flag[present] = ~mask[buckets[present].astype(np.int64)]
        return flag

    @cached_property
    def titles(self) -> tuple[TokenRows, np.ndarray, list[str], np.ndarray | None]:
        unique, inverse = distinct(as_strings(self._column("title")))  # repeated titles tokenised once
        tokens, letters = title_tokens(unique)
        return tokens, letters, unique, inverse

    def per_row(self, values: np.ndarray) -> np.ndarray:
        inverse = self.titles[3]
        return values if inverse is None else values[inverse]

    @cached_property
    def _n_tokens_unique(self) -> np.ndarray:
        return self.titles[0].row_sums()

    @cached_property
    def n_tokens(self) -> np.ndarray:
        return self.per_row(self._n_tokens_unique)

    @cached_property
    def title_chars(self) -> np.ndarray:
        """Characters without surrounding whitespace (a blank title has none)."""
        unique = self.titles[2]
        return self.per_row(np.fromiter((len(t.strip()) for t in unique), dtype="float64", count=len(unique)))

    @cached_property
    def title_oov_rate(self) -> np.ndarray:
        tokens, n_tok = self.titles[0], self._n_tokens_unique
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(n_tok > 0, oov_counts(tokens, self.lookups.token_seen) / n_tok, np.nan)
        return self.per_row(rate)

    @cached_property
    def title_letter_share(self) -> np.ndarray:
        """Letters (in non-numeric tokens) among visible characters: low for symbol soup."""
        _, letters, unique, _ = self.titles
        chars = np.fromiter(map(len, unique), dtype="float64", count=len(unique))
        visible = chars - np.fromiter((t.count(" ") for t in unique), dtype="float64", count=len(unique))
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.per_row(np.where(visible > 0, letters / visible, 0.0))

    @cached_property
    def title_foreign_share(self) -> np.ndarray:
        """Share of alphabetic characters outside Latin script (Devanagari, CJK, Cyrillic...)."""
        unique = self.titles[2]
        out = np.zeros(len(unique))
        for i, t in enumerate(unique):
            if not t.isascii():
                alpha = [c for c in t if c.isalpha()]
                if alpha:
                    out[i] = sum(ord(c) > 0x24F for c in alpha) / len(alpha)
        return self.per_row(out)

    @cached_property
    def token_histogram(self) -> np.ndarray:
        return self.per_row(token_histogram(self.titles[0]))


def token_shares(tokens: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-row token shares folded to ``k`` buckets (bucket b -> b % k), for rows with tokens.

    Counts are folded as integers (exact): the width is halved until it is ``k`` (``k`` divides
    the width, both powers of two), in the histogram's own uint8 when no row holds 256 tokens
    or more, so no sum can overflow. The calibration folds millions of rows: this takes about
    half the time of a reshaped int64 sum."""
    total = tokens.sum(axis=1, dtype=np.uint16 if tokens.dtype == np.uint8 else np.int64)
    rows = total > 0
    folded = tokens[rows]
    if folded.dtype == np.uint8 and total.max(initial=0) > 255:
        folded = folded.astype(np.uint16)
    while folded.shape[1] > k:
        half = folded.shape[1] // 2
        folded = folded[:, :half] + folded[:, half:]
    return folded / total[rows, None].astype("float64"), rows


def mean_token_shares(tokens: np.ndarray, k: int) -> np.ndarray:
    """The mean over rows with tokens of :func:`token_shares` (``k`` buckets): folding is linear,
    so each row's histogram is weighted by 1 / its token count, summed, then folded; one product
    instead of every row's shares (a 1,000-row window: a third of the time)."""
    total = tokens.sum(axis=1, dtype=np.uint16 if tokens.dtype == np.uint8 else np.int64)
    rows = total > 0
    weight = np.divide(1.0, total, out=np.zeros(total.size), where=rows)
    mean = (weight @ tokens) / max(int(rows.sum()), 1)
    while mean.size > k:
        half = mean.size // 2
        mean = mean[:half] + mean[half:]
    return mean
