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
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from features.hashing import hash_buckets, murmur_hashes
from features.text import as_strings, distinct

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
    """``table``: rows x monitored columns (``specs.COLUMNS``, NaN = missing); ``tokens``: rows x 256 counts."""

    table: np.ndarray
    tokens: np.ndarray

    def __len__(self) -> int:
        return self.table.shape[0]

    def col(self, name: str) -> np.ndarray:
        from pyfunc_model.drift.specs import COL

        return self.table[:, COL[name]]


#: The price residual is computed for at most this many distinct titles per call (evenly spaced):
#: the nearest-neighbour search is the costliest per-row value, and the tests need no more.
MAX_RESIDUAL_TITLES = 256
#: Neighbours averaged for the price of a title; the blend weight of the neighbours rises from 0
#: to 1 as the nearest neighbour's cosine similarity goes from KNN_SIM[0] to KNN_SIM[1].
KNN_K = 5
KNN_SIM = (0.3, 0.9)
#: A training title this similar is the query's own title (same words): never its own neighbour.
#: The reference's residuals are out of fold (folds grouped by title), so a listing re-sent from
#: the training catalogue is priced with its stored out-of-fold prediction, not from its own
#: training row; otherwise re-scoring the catalogue looks like price drift (residuals near zero).
SELF_SIMILARITY = 1.0 - 1e-6


@dataclass
class PriceLookup:
    """log price of a title: ridge on word presence + sub-category, blended with the prices of the
    most similar training titles; and the expected spread of its error, which shrinks as the
    nearest training title gets closer (so the residual is divided by it: a shift that moves
    every price is seen most clearly on the rows whose price is best known)."""

    token_weights: np.ndarray  # dense, TOKEN_FEATURES long
    subcategory: tuple[np.ndarray, np.ndarray]  # (sorted sub-category buckets, weight of each)
    intercept: float
    idf: np.ndarray  # dense, TOKEN_FEATURES long
    index: sp.csr_matrix  # training titles x TOKEN_FEATURES, l2-normalised tf-idf, transposed
    index_price: np.ndarray  # log price of each training title
    sim_edges: np.ndarray  # nearest-neighbour similarity bins ...
    sigma: np.ndarray  # ... and the robust residual spread in each
    #: per training title, its out-of-fold (predicted log price, nearest similarity): what a
    #: title sent again is priced with, exactly as the reference priced it (None: not stored)
    index_own: tuple[np.ndarray, np.ndarray] | None = None
    #: the same for the prediction made without the sub-category, and its residual spread per
    #: similarity bin (None in references built before rows without a sub-category had their own)
    index_own_title: np.ndarray | None = None
    sigma_title: np.ndarray | None = None

    def spread(self, nearest: np.ndarray, title_only: bool = False) -> np.ndarray:
        """Expected error spread of a prediction whose nearest training title has similarity ``nearest``
        (``title_only``: of the prediction made without the sub-category)."""
        sigma = self.sigma_title if title_only and self.sigma_title is not None else self.sigma
        return sigma[np.searchsorted(self.sim_edges, nearest, side="right")]

    def predict(self, words: sp.csr_matrix, subcategory: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(predicted log price, nearest training title's similarity) per row of ``words`` (presence, csr)."""
        with_sub, _, nearest = self.predict_both(words, subcategory)
        return with_sub, nearest

    def predict_both(self, words: sp.csr_matrix, subcategory: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(predicted log price with the row's sub-category, predicted without it, nearest similarity).

        A row that sends no sub-category is priced from its title alone, so its residual has its
        own spread and reference (the ``price_residual_title`` signal); both predictions share
        the neighbour search, the costly part. Plain numpy over the csr arrays (no scipy matrix
        products): for the few rows of a request the sparse-matrix machinery costs more than the
        arithmetic.
        """
        words = words.tocsr()
        n = words.shape[0]
        row_of = np.repeat(np.arange(n), np.diff(words.indptr))
        ids, data = words.indices, words.data.astype("float64")
        # astype: numpy's weighted bincount of no values is int64
        title = np.bincount(row_of, weights=data * self.token_weights[ids], minlength=n).astype("float64", copy=False)
        title += self.intercept
        ridge = title + _lookup(*self.subcategory, subcategory)
        if self.index.shape[1] == 0 or n == 0:
            return ridge, title, np.zeros(n)
        query = data * self.idf[ids]  # l2-normalised tf-idf of each row
        norms = np.sqrt(np.bincount(row_of, weights=query * query, minlength=n).astype("float64", copy=False))
        query /= np.where(norms > 0, norms, 1.0)[row_of]
        best = np.zeros(n)
        knn = ridge.copy()
        own = np.full(n, -1)  # the training title a row repeats, if any
        k = min(KNN_K, self.index.shape[1])
        for lo in range(0, n, 128):  # dense similarity blocks of at most 128 x training titles
            hi = min(lo + 128, n)
            part = slice(words.indptr[lo], words.indptr[hi])
            sims = self._similarities(row_of[part] - lo, ids[part], query[part], hi - lo)
            first = sims.argmax(axis=1)
            repeats = sims[np.arange(sims.shape[0]), first] >= SELF_SIMILARITY
            own[lo:hi][repeats] = first[repeats]
            sims[sims >= SELF_SIMILARITY] = 0.0
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            s = np.take_along_axis(sims, top, axis=1)
            w = np.maximum(s, 1e-3) ** 4
            knn[lo:hi] = (w * self.index_price[top]).sum(axis=1) / w.sum(axis=1)
            best[lo:hi] = s.max(axis=1)
        lam = np.clip((best - KNN_SIM[0]) / (KNN_SIM[1] - KNN_SIM[0]), 0.0, 1.0)
        with_sub = lam * knn + (1.0 - lam) * ridge
        without = lam * knn + (1.0 - lam) * title
        if self.index_own is not None:
            repeated = own >= 0
            with_sub[repeated] = self.index_own[0][own[repeated]]
            if self.index_own_title is not None:
                without[repeated] = self.index_own_title[own[repeated]]
            best[repeated] = self.index_own[1][own[repeated]]
        return with_sub, without, best

    def _similarities(self, rows: np.ndarray, tokens: np.ndarray, weights: np.ndarray, m: int) -> np.ndarray:
        """Dense ``m`` x training-titles cosine similarities: each query token adds its posting list."""
        titles = self.index.shape[1]
        starts = self.index.indptr[tokens]
        lengths = self.index.indptr[tokens + 1] - starts
        total = int(lengths.sum())
        offsets = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths) + np.arange(total)
        flat = np.repeat(rows * titles, lengths) + self.index.indices[offsets]
        values = self.index.data[offsets] * np.repeat(weights, lengths)
        return np.bincount(flat, weights=values, minlength=m * titles).astype("float64", copy=False).reshape(m, titles)


@dataclass
class Lookups:
    """What the per-row values are computed against: seen sets and the price model.

    Serving reads them from the reference; training builds one per fold (from the other folds'
    rows) so that every value of a training row is computed out of fold, as new rows will be.
    """

    n_bits: dict[str, int]
    seen: dict[str, np.ndarray | None]
    token_seen: np.ndarray
    price: PriceLookup
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


def title_tokens(titles: pd.Series | list[str]) -> tuple[sp.csr_matrix, np.ndarray]:
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


def _log1p(values: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.log1p(np.clip(values, 0, None))


def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray, default: float = 0.0) -> np.ndarray:
    """``values[keys == query]`` per query value (sorted ``keys``), ``default`` where absent/NaN."""
    out = np.full(query.size, default)
    if keys.size:
        pos = np.clip(np.searchsorted(keys, query), 0, keys.size - 1)
        hit = ~np.isnan(query) & (keys[pos] == query)
        out[hit] = values[pos[hit]]
    return out


#: What the per-row values are computed from: a prepared DataFrame (training, reports) or the
#: same canonical columns as numpy arrays (``predict``: no pandas objects on the hot path).
PreparedColumns = pd.DataFrame | Mapping[str, np.ndarray]


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
    def _titles(self) -> tuple[sp.csr_matrix, np.ndarray, list[str], np.ndarray | None]:
        unique, inverse = distinct(as_strings(self._column("title")))  # repeated titles tokenised once
        tokens, letters = title_tokens(unique)
        return tokens, letters, unique, inverse

    def _per_row(self, values: np.ndarray) -> np.ndarray:
        inverse = self._titles[3]
        return values if inverse is None else values[inverse]

    @cached_property
    def _n_tokens_unique(self) -> np.ndarray:
        return np.asarray(self._titles[0].sum(axis=1)).ravel()

    @cached_property
    def n_tokens(self) -> np.ndarray:
        return self._per_row(self._n_tokens_unique)

    @cached_property
    def title_chars(self) -> np.ndarray:
        """Characters without surrounding whitespace (a blank title has none)."""
        unique = self._titles[2]
        return self._per_row(np.fromiter((len(t.strip()) for t in unique), dtype="float64", count=len(unique)))

    @cached_property
    def title_oov_rate(self) -> np.ndarray:
        tokens, n_tok = self._titles[0], self._n_tokens_unique
        with np.errstate(invalid="ignore", divide="ignore"):
            rate = np.where(n_tok > 0, oov_counts(tokens, self.lookups.token_seen) / n_tok, np.nan)
        return self._per_row(rate)

    @cached_property
    def title_letter_share(self) -> np.ndarray:
        """Letters (in non-numeric tokens) among visible characters: low for symbol soup."""
        _, letters, unique, _ = self._titles
        chars = np.fromiter(map(len, unique), dtype="float64", count=len(unique))
        visible = chars - np.fromiter((t.count(" ") for t in unique), dtype="float64", count=len(unique))
        with np.errstate(invalid="ignore", divide="ignore"):
            return self._per_row(np.where(visible > 0, letters / visible, 0.0))

    @cached_property
    def title_foreign_share(self) -> np.ndarray:
        """Share of alphabetic characters outside Latin script (Devanagari, CJK, Cyrillic...)."""
        unique = self._titles[2]
        out = np.zeros(len(unique))
        for i, t in enumerate(unique):
            if not t.isascii():
                alpha = [c for c in t if c.isalpha()]
                if alpha:
                    out[i] = sum(ord(c) > 0x24F for c in alpha) / len(alpha)
        return self._per_row(out)

    @cached_property
    def token_histogram(self) -> np.ndarray:
        return self._per_row(token_histogram(self._titles[0]))

    @cached_property
    def _price_predictions(self) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
        """Per row: predicted log price with its sub-category, without it, and the spread of each.

        Computed for at most :data:`MAX_RESIDUAL_TITLES` distinct titles (evenly spaced; NaN for
        the others): enough for the tests, and bounded work on large batches."""
        tokens, _, unique, inverse = self._titles
        chosen = np.arange(len(unique))
        cap = self.max_residual_titles
        if cap is not None and chosen.size > cap:
            chosen = np.linspace(0, chosen.size - 1, cap).round().astype(np.int64)
        words = tokens.copy() if chosen.size == len(unique) else tokens[chosen]
        words.data[:] = 1.0  # presence, as the model was fitted
        sub = self.bucket("subcategory")
        first_row = np.zeros(len(unique), dtype=np.int64)  # the sub-category of a title's first row
        if inverse is not None:
            first_row[inverse[::-1]] = np.arange(self.n)[::-1]
        else:
            first_row = np.arange(self.n)
        price = self.lookups.price
        with_sub, without, nearest = price.predict_both(words, sub[first_row[chosen]])
        out = np.full((4, len(unique)), np.nan)
        out[:, chosen] = (with_sub, price.spread(nearest), without, price.spread(nearest, title_only=True))
        with_sub, spread, title, title_spread = (self._per_row(v) for v in out)
        return (with_sub, spread), (title, title_spread)

    @cached_property
    def price_residual(self) -> np.ndarray:
        """(log price - its prediction from title and sub-category) / the prediction's expected
        error, on rows that sent a sub-category (NaN on the others: see :attr:`price_residual_title`)."""
        if not np.isfinite(self.number("price")).any():
            return np.full(self.n, np.nan)  # no price sent: no neighbour search
        (expected, spread), _ = self._price_predictions
        residual = (self.log1p("price") - expected) / spread
        residual[np.isnan(self.bucket("subcategory"))] = np.nan
        return residual

    @cached_property
    def price_residual_title(self) -> np.ndarray:
        """The same from the title alone, on rows that sent no sub-category (every row with
        ``every_profile``): their traffic is compared with training's title-only residuals."""
        if not np.isfinite(self.number("price")).any():
            return np.full(self.n, np.nan)
        _, (expected, spread) = self._price_predictions
        residual = (self.log1p("price") - expected) / spread
        if not self.every_profile:
            residual[~np.isnan(self.bucket("subcategory"))] = np.nan
        return residual


def token_shares(tokens: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-row token shares folded to ``k`` buckets (bucket b -> b % k), for rows with tokens."""
    total = tokens.sum(axis=1).astype("float64")
    rows = total > 0
    folded = tokens[rows].astype("float64")
    if k < folded.shape[1]:
        folded = folded.reshape(folded.shape[0], -1, k).sum(axis=1)
    return folded / total[rows, None], rows
