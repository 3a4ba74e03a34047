"""Price given the title: a listing's log price against what its words and nearest training titles predict.

Prices differ between products far more than any shift worth catching, so the price alone is a
blunt signal; the residual of a model of price given the title (and the sub-category where it is
sent) has about half its spread, hence twice the power for a shift that moves prices. This module
owns the signal whole:

- what training fits: :meth:`PriceLookup.fit` (a ridge on word presence and sub-category, blended
  with the prices of the most similar training titles) and :func:`fit_spread` (the out-of-fold
  error spread per nearest-title similarity bin);
- its stored state: :meth:`PriceLookup.to_state` / :meth:`PriceLookup.from_state`, the reference's
  ``price_model`` entry (the same JSON as artifacts built before this module existed);
- its per-row values: :func:`residual` (rows that sent a sub-category) and :func:`residual_title`
  (rows that did not, against training's title-only residuals), each divided by its expected
  spread squared (:data:`SPREAD_POWER`).

Its tests are the numeric ones (rank and KS against the reference sketch of the out-of-fold
residuals), declared with the other signals in :mod:`pyfunc_model.drift.specs`.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np
import scipy.sparse as sp
from sparse_dot_topn.lib import _sparse_dot_topn_core as _topn_core

from features.sparse_rows import row_positions
from pyfunc_model.drift.encoding import decode_array, encode_array
from pyfunc_model.drift.summary import TOKEN_FEATURES, TokenRows

if TYPE_CHECKING:
    from pyfunc_model.drift.summary import RowContext

#: Neighbours averaged for the price of a title; the blend weight of the neighbours rises from 0
#: to 1 as the nearest neighbour's cosine similarity goes from KNN_SIM[0] to KNN_SIM[1]. Eight
#: rather than five: the median rank score of +20 % prices on amazon_in's held-out batches rose
#: from 4.80 to 4.96 (6 and 12 gave 4.83 and 4.90), caught in 98 / 95 / 97 % of three sets of
#: 100 batches against 96 / 95 / 96 %, each null set's false alarms within one batch; the whole
#: monitor (``bench/drift_eval.py``) 97 % against 96 %, for 0.3-0.4 ms more per 100 titles with the
#: dense search then in use.
KNN_K = 8
#: What references built before the count was stored were fitted with.
KNN_K_BEFORE_STORED = 5
KNN_SIM = (0.3, 0.9)
#: A training title this similar is the query's own title (same words, the pruned common ones
#: aside: :data:`MAX_DF`): never its own neighbour.
#: The reference's residuals are out of fold (folds grouped by title), so a listing re-sent from
#: the training catalogue is priced with its stored out-of-fold prediction, not from its own
#: training row; otherwise re-scoring the catalogue looks like price drift (residuals near zero).
SELF_SIMILARITY = 1.0 - 1e-6


#: A word in more than MAX_DF of the priced training titles (and in over MIN_PRUNED_DF of them)
#: whose titles' log prices vary at least MAX_PRICE_VARIANCE_KEPT as much as all titles' takes no
#: part in the neighbour search ("for", "with", "pack", ...): it hardly tells two titles' prices
#: apart, yet such words' posting lists are most of the search's work. A common word that does
#: tell prices apart ("tv" in a catalogue of six kinds of product) stays.
MAX_DF = 0.05
MIN_PRUNED_DF = 200
MAX_PRICE_VARIANCE_KEPT = 0.5

#: Titles whose neighbours a process keeps (oldest out first; ~150 bytes each), unless the
#: environment variable below says otherwise (0: no cache; checked when the model loads).
MAX_CACHED_TITLES = 50_000
ENV_TITLE_CACHE = "PRODUCT_CLASSIFIER_TITLE_CACHE"

#: Nearest-neighbour similarity bins of the residual's spread.
SIM_EDGES = (0.3, 0.5, 0.7, 0.9)
#: Ridge penalty of the word + sub-category model.
RIDGE_ALPHA = 3.0
#: The residual is divided by its expected spread to this power. A shift that moves every price
#: by the same factor moves each row's residual by the same amount, and the rows whose price is
#: best known tell it most surely: inverse-variance weighting (power 2) puts them on the outside
#: of the reference's ranks. On amazon_in's held-out rows (200-row batches, the rank test alone)
#: the median score at +20 % prices went from 5.1 at power 1 to 5.7 at power 2, at +10 % from
#: 2.7 to 3.1; past 2 it levels off (5.7, 5.7 at 2.5 and 3).
SPREAD_POWER = 2.0


class TitleCache:
    """A bounded dict shared by the threads of a process, under a lock; pickled empty (and sized
    again where it is unpickled).

    ``size``: entries kept (0: none); by default :data:`MAX_CACHED_TITLES` or the
    :data:`ENV_TITLE_CACHE` environment variable."""

    def __init__(self, size: int | None = None) -> None:
        self.size = title_cache_size() if size is None else size
        self.entries: dict[bytes, tuple[float, float, int]] = {}
        self.lock = threading.Lock()

    def get_many(self, keys: list[bytes]) -> list[tuple[float, float, int] | None]:
        with self.lock:
            return [self.entries.get(key) for key in keys]

    def put_many(self, items: list[tuple[bytes, tuple[float, float, int]]]) -> None:
        with self.lock:
            for key, value in items:
                while len(self.entries) >= self.size and self.entries:
                    self.entries.pop(next(iter(self.entries)))  # the oldest entry
                if self.size:
                    self.entries[key] = value

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()

    def __len__(self) -> int:
        return len(self.entries)

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]  # sized by the loading process's environment


def title_cache_size(environ: Mapping[str, str] | None = None) -> int:
    """Entries of the per-title cache: :data:`ENV_TITLE_CACHE` when set (an integer >= 0), else
    :data:`MAX_CACHED_TITLES`."""
    text = (os.environ if environ is None else environ).get(ENV_TITLE_CACHE, "").strip()
    if not text:
        return MAX_CACHED_TITLES
    try:
        size = int(text)
    except ValueError:
        size = -1
    if size < 0:
        raise ValueError(f"{ENV_TITLE_CACHE} must be an integer >= 0 (titles kept; 0: no cache), got {text!r}")
    return size


@dataclass
class PriceLookup:
    """log price of a title: ridge on word presence + sub-category, blended with the prices of the
    most similar training titles; and the expected spread of its error, which shrinks as the
    nearest training title gets closer (so the residual is divided by its square,
    :data:`SPREAD_POWER`: a shift that moves every price is seen most clearly on the rows whose
    price is best known)."""

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
    #: the residual is divided by the spread to this power (:data:`SPREAD_POWER`; 1 in references
    #: built before the power was stored)
    spread_power: float = 1.0
    #: neighbours averaged per title (:data:`KNN_K`; 5 in references built before it was stored)
    knn_k: int = KNN_K_BEFORE_STORED
    #: neighbours of the titles served so far (:meth:`_neighbours`)
    cache: TitleCache = field(default_factory=TitleCache, repr=False, compare=False)

    def spread(self, nearest: np.ndarray, title_only: bool = False) -> np.ndarray:
        """Expected error spread of a prediction whose nearest training title has similarity ``nearest``
        (``title_only``: of the prediction made without the sub-category)."""
        sigma = self.sigma_title if title_only and self.sigma_title is not None else self.sigma
        return sigma[np.searchsorted(self.sim_edges, nearest, side="right")]

    def scale(self, nearest: np.ndarray, title_only: bool = False) -> np.ndarray:
        """What a residual is divided by: its expected spread to the power :attr:`spread_power`."""
        spread = self.spread(nearest, title_only)
        return spread if self.spread_power == 1.0 else spread**self.spread_power

    def predict(self, words: sp.csr_matrix | TokenRows, subcategory: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(predicted log price, nearest training title's similarity) per row of ``words`` (presence, csr)."""
        with_sub, _, nearest = self.predict_both(words, subcategory)
        return with_sub, nearest

    def predict_both(
        self, words: sp.csr_matrix | TokenRows, subcategory: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(predicted log price with the row's sub-category, predicted without it, nearest similarity).

        A row that sends no sub-category is priced from its title alone, so its residual has its
        own spread and reference (the ``price_residual_title`` signal); both predictions share
        the neighbour search, the costly part. Plain numpy over the csr arrays (no scipy matrix
        products): for the few rows of a request the sparse-matrix machinery costs more than the
        arithmetic.
        """
        if sp.issparse(words):
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
        knn, best, own = self._neighbours(words)
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

    def _neighbours(self, words: sp.csr_matrix | TokenRows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per row: (weighted log price of its nearest training titles, the nearest one's similarity,
        the training title it repeats or -1). Depends on the title alone, so titles seen before are
        answered from a bounded cache shared by every request of the process (a catalogue sent
        again, a product sent once per client); the others are searched."""
        n = words.shape[0]
        cacheable = self.cache.size > 0 and bool((words.data == 1).all())  # presence rows: the ids are the key
        if not cacheable:
            return self._search(words)
        raw = np.asarray(words.indices, dtype=np.int64).tobytes()  # one key layout whatever the input's
        bounds = (np.asarray(words.indptr) * 8).tolist()
        keys = [raw[a:b] for a, b in itertools.pairwise(bounds)]
        found = self.cache.get_many(keys)
        todo = [i for i, hit in enumerate(found) if hit is None]
        if len(todo) == n:
            knn, best, own = self._search(words)
        else:
            knn, best, own = (np.asarray(v) for v in zip(*(hit or (np.nan, np.nan, -1) for hit in found), strict=True))
            if todo:
                knn[todo], best[todo], own[todo] = self._search(_rows(words, np.asarray(todo)))
        if todo:
            values = zip(knn[todo].tolist(), best[todo].tolist(), own[todo].tolist(), strict=True)
            self.cache.put_many(list(zip([keys[i] for i in todo], values, strict=True)))
        return knn, best, own

    def _search(self, words: sp.csr_matrix | TokenRows) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`_neighbours` by search (:meth:`neighbour_lists`): the similarity-weighted mean log
        price of each row's neighbours; a row with none gets 0 and similarity 0 (the ridge alone
        prices it: the blend weight of the neighbours is 0 there)."""
        indptr, columns, sims, own = self.neighbour_lists(words)
        n = indptr.size - 1
        row_of = np.repeat(np.arange(n), np.diff(indptr))
        w = np.maximum(sims, 1e-3) ** 4
        total = np.bincount(row_of, weights=w, minlength=n)
        priced = np.bincount(row_of, weights=w * self.index_price[columns], minlength=n)
        knn = np.divide(priced, total, out=np.zeros(n), where=total > 0)
        best = np.zeros(n)
        found = np.diff(indptr) > 0
        best[found] = sims[indptr[:-1][found]]
        return knn, best, own

    def neighbour_lists(
        self, words: sp.csr_matrix | TokenRows
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Each row's nearest training titles by cosine similarity of tf-idf rows, most similar
        first, at most :attr:`knn_k` of them, the row's own title left out (CSR-like
        ``indptr``, training-title ``columns`` and ``sims``), and the training title each row
        repeats (``own``, -1 if none: the most similar title at :data:`SELF_SIMILARITY`, the
        lowest index among equals).

        One sparse product that keeps the top entries of each row (sparse_dot_topn, compiled):
        the cost follows the query words' posting lists, not rows x training titles, and no
        dense block is built. Titles at :data:`SELF_SIMILARITY` (the row's own, or a training
        title with the same words) never count; a row with more of them than the product kept
        is searched again with room for them. Among equally similar titles at the k-th place,
        which one is kept is the library's choice (the same for a title alone or in a batch)."""
        k = min(self.knn_k, self.index.shape[1])
        return _top_others(self._query(words), self._index_arrays, k, room=2 * k)

    def _query(self, words: sp.csr_matrix | TokenRows) -> _Rows:
        """Each row's l2-normalised tf-idf, as the index's titles are."""
        n = words.shape[0]
        row_of = np.repeat(np.arange(n), np.diff(words.indptr))
        ids, data = words.indices, words.data.astype("float64")
        query = data * self.idf[ids]
        norms = np.sqrt(np.bincount(row_of, weights=query * query, minlength=n).astype("float64", copy=False))
        query /= np.where(norms > 0, norms, 1.0)[row_of]
        return _Rows(np.asarray(words.indptr, dtype=np.int32), np.asarray(ids, dtype=np.int32), query)

    @cached_property
    def _index_arrays(self) -> _Rows:
        """The index as the compiled product reads it (int32 positions), converted once."""
        index = self.index
        return _Rows(index.indptr.astype(np.int32), index.indices.astype(np.int32), index.data, index.shape[1])

    @classmethod
    def fit(
        cls, words: sp.csr_matrix, subcategory: np.ndarray, log_price: np.ndarray, alpha: float = RIDGE_ALPHA
    ) -> PriceLookup:
        """Training only: the ridge on word presence and sub-category one-hot, and the priced titles
        as the neighbour index. The spreads are set afterwards from out-of-fold residuals
        (:func:`fit_spread`)."""
        from sklearn.linear_model import Ridge  # training only

        ok = np.isfinite(log_price)
        keys = np.unique(subcategory[~np.isnan(subcategory)])
        presence = words[ok].tocsr(copy=True)
        presence.sum_duplicates()
        presence.data[:] = 1.0
        df = np.bincount(presence.indices, minlength=TOKEN_FEATURES)
        idf = np.where(df > 0, np.log((1.0 + presence.shape[0]) / (1.0 + df)) + 1.0, 0.0)
        idf[_uninformative_common(presence, log_price[ok], df)] = 0.0
        index = tfidf_rows(presence.indptr.astype(np.int32), presence.indices.astype(np.int32), idf)
        lookup = cls(
            token_weights=np.zeros(TOKEN_FEATURES),
            subcategory=(keys, np.zeros(keys.size)),
            intercept=float(np.nanmedian(log_price)) if ok.any() else 0.0,
            idf=idf,
            index=index.T.tocsr(),
            index_price=log_price[ok],
            sim_edges=np.asarray(SIM_EDGES),
            sigma=np.ones(len(SIM_EDGES) + 1),
            spread_power=SPREAD_POWER,
            knn_k=KNN_K,
        )
        if ok.sum() < 10:
            return lookup
        codes = np.searchsorted(keys, subcategory)
        has = ~np.isnan(subcategory)
        onehot = sp.csr_matrix(
            (np.ones(int(has.sum())), (np.flatnonzero(has), codes[has])), shape=(len(subcategory), max(keys.size, 1))
        )
        active = np.flatnonzero(df)  # words that occur: the solver never sees the 2**17 - n empty columns
        X = sp.hstack([presence[:, active], onehot[ok]], format="csr", dtype=np.float32)  # float32: ~10x faster
        model = Ridge(alpha=alpha, solver="lsqr", fit_intercept=True, tol=1e-4).fit(X, log_price[ok])
        lookup.token_weights[active] = model.coef_[: active.size]
        lookup.subcategory = (keys, model.coef_[active.size : active.size + keys.size].copy())
        lookup.intercept = float(model.intercept_)
        return lookup

    def to_state(self, residual: np.ndarray) -> dict[str, Any]:
        """The JSON the reference stores (its ``price_model`` entry): sparse ridge weights, the
        index titles' word ids (zlib-compressed) and log prices, the spreads per similarity bin;
        ``residual``: the out-of-fold residuals, whose spread is kept for reports."""
        ids, idf_ids = np.flatnonzero(self.token_weights), np.flatnonzero(self.idf)
        rows = self.index.T.tocsr()
        keys, weights = self.subcategory
        return {
            "token_ids": encode_array(ids, "int32"),
            "token_weights": encode_array(self.token_weights[ids], "float32"),
            "subcategory_buckets": keys.tolist(),
            "subcategory_weights": weights.tolist(),
            "intercept": self.intercept,
            "idf_ids": encode_array(idf_ids, "int32"),
            "idf_values": encode_array(self.idf[idf_ids], "float32"),
            "index_indptr": encode_array(rows.indptr, "int32", compress=True),
            "index_ids": encode_array(rows.indices, "int32", compress=True),
            "index_price": encode_array(self.index_price, "float32"),
            "sim_edges": self.sim_edges.tolist(),
            "sigma": self.sigma.tolist(),
            "residual_std": float(np.nanstd(residual)) if np.isfinite(residual).any() else float("nan"),
            "own_price": None if self.index_own is None else encode_array(self.index_own[0], "float32"),
            "own_nearest": None if self.index_own is None else encode_array(self.index_own[1], "float32"),
            "own_price_title": None if self.index_own_title is None else encode_array(self.index_own_title, "float32"),
            "sigma_title": None if self.sigma_title is None else self.sigma_title.tolist(),
            "spread_power": self.spread_power,
            "knn_k": self.knn_k,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> PriceLookup:
        """Decode :meth:`to_state`'s JSON (once per process; optional entries absent in older artifacts)."""
        weights = np.zeros(TOKEN_FEATURES)
        weights[decode_array(state["token_ids"], "int32")] = decode_array(state["token_weights"], "float32")
        idf = np.zeros(TOKEN_FEATURES)
        idf[decode_array(state["idf_ids"], "int32")] = decode_array(state["idf_values"], "float32")
        indptr = decode_array(state["index_indptr"], "int32", compressed=True)
        ids = decode_array(state["index_ids"], "int32", compressed=True)

        def floats(key: str) -> np.ndarray | None:
            value = state.get(key)
            return None if value is None else decode_array(value, "float32").astype("float64")

        own_price, own_nearest = floats("own_price"), floats("own_nearest")
        sigma_title = state.get("sigma_title")
        return cls(
            token_weights=weights,
            subcategory=(
                np.asarray(state["subcategory_buckets"], dtype="float64"),
                np.asarray(state["subcategory_weights"], dtype="float64"),
            ),
            intercept=float(state["intercept"]),
            idf=idf,
            index=tfidf_rows(indptr, ids, idf).T.tocsr(),
            index_price=decode_array(state["index_price"], "float32").astype("float64"),
            sim_edges=np.asarray(state["sim_edges"], dtype="float64"),
            sigma=np.asarray(state["sigma"], dtype="float64"),
            index_own=None if own_price is None or own_nearest is None else (own_price, own_nearest),
            index_own_title=floats("own_price_title"),
            sigma_title=None if sigma_title is None else np.asarray(sigma_title, dtype="float64"),
            spread_power=float(state.get("spread_power", 1.0)),
            knn_k=int(state.get("knn_k", KNN_K_BEFORE_STORED)),
        )


class _Rows(NamedTuple):
    """CSR rows as plain arrays: what the compiled top-n product takes (no scipy matrix to build)."""

    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    columns: int = TOKEN_FEATURES


def _top_others(query: _Rows, index: _Rows, k: int, room: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:meth:`PriceLookup.neighbour_lists` for the rows of ``query``: the product keeps ``room``
    entries per row; rows whose titles at :data:`SELF_SIMILARITY` left fewer than ``k`` others
    while filling it are searched again with four times the room.

    sparse_dot_topn's compiled function is called directly: its public wrapper copies the
    index's position arrays on every call (about 40 us, three times the product for one title).
    ``tests/drift/test_price_lookup.py`` checks it against the public function."""
    m = query.indptr.size - 1
    own = np.full(m, -1)
    if m == 0 or k == 0 or query.indices.size == 0:
        return np.zeros(m + 1, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0), own
    sims, columns, starts = _topn_core.sp_matmul_topn_sorted(
        room,
        m,
        index.columns,
        None,
        1.0,
        *(query.data, query.indptr, query.indices),
        *(index.data, index.indptr, index.indices),
    )
    sizes = np.diff(starts)
    row_of = np.repeat(np.arange(m), sizes)
    first = starts[:-1]
    same = sims >= SELF_SIMILARITY
    if same.any():  # the repeated title: the lowest index among the row's most similar ones
        at = same & (sims == sims[first[row_of]])
        lowest = np.full(m, np.iinfo(np.int64).max)
        np.minimum.at(lowest, row_of[at], columns[at])
        own = np.where(lowest < np.iinfo(np.int64).max, lowest, -1)
        others = ~same
        before = np.cumsum(others) - others  # others ahead of each entry, over all rows
        kept = others & (before - before[first[row_of]] < k)
        short = (np.bincount(row_of[others], minlength=m) < k) & (sizes == room)
    else:  # sorted rows of at most room >= k entries: the first k of each
        kept = np.arange(sims.size) - first[row_of] < k
        short = np.zeros(m, dtype=bool)
    if not short.any():
        rows, columns, sims = row_of[kept], columns[kept], sims[kept]
    else:
        again = np.flatnonzero(short)
        kept &= ~short[row_of]
        sub = _Rows(*_subset(query, again))
        a_indptr, a_columns, a_sims, a_own = _top_others(sub, index, k, room * 4)
        own[again] = a_own
        rows = np.concatenate([row_of[kept], np.repeat(again, np.diff(a_indptr))])
        order = np.argsort(rows, kind="stable")
        columns = np.concatenate([columns[kept], a_columns])[order]
        sims = np.concatenate([sims[kept], a_sims])[order]
        rows = rows[order]
    indptr = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=m), out=indptr[1:])
    return indptr, columns.astype(np.int64, copy=False), sims, own


def _subset(rows: _Rows, which: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(indptr, indices, data) of the listed rows."""
    at, sizes = row_positions(rows.indptr, which)
    indptr = np.zeros(which.size + 1, dtype=np.int32)
    np.cumsum(sizes, out=indptr[1:])
    return indptr, rows.indices[at], rows.data[at]


def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray, default: float = 0.0) -> np.ndarray:
    """``values[keys == query]`` per query value (sorted ``keys``), ``default`` where absent/NaN."""
    out = np.full(query.size, default)
    if keys.size:
        pos = np.clip(np.searchsorted(keys, query), 0, keys.size - 1)
        hit = ~np.isnan(query) & (keys[pos] == query)
        out[hit] = values[pos[hit]]
    return out


def _rows(words: sp.csr_matrix | TokenRows, rows: np.ndarray) -> sp.csr_matrix | TokenRows:
    """The listed rows of presence rows ``words``."""
    return words.presence(rows) if isinstance(words, TokenRows) else words[rows]


def _uninformative_common(presence: sp.csr_matrix, log_price: np.ndarray, df: np.ndarray) -> np.ndarray:
    """Training only: the words :data:`MAX_DF` keeps out of the neighbour search (a boolean mask
    over :data:`TOKEN_FEATURES`)."""
    common = df > max(MAX_DF * presence.shape[0], MIN_PRUNED_DF)
    if not common.any():
        return common
    total = float(log_price.var())
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = (presence.T @ log_price) / df
        variance = (presence.T @ (log_price * log_price)) / df - mean * mean
    return common & (variance > MAX_PRICE_VARIANCE_KEPT * total)


def tfidf_rows(indptr: np.ndarray, ids: np.ndarray, idf: np.ndarray) -> sp.csr_matrix:
    """l2-normalised tf-idf rows (word presence x idf) from each row's distinct word ids."""
    values = idf[ids]
    rows = np.repeat(np.arange(indptr.size - 1), np.diff(indptr))
    norms = np.sqrt(np.bincount(rows, weights=values**2, minlength=indptr.size - 1))
    values = values / np.where(norms > 0, norms, 1.0)[rows]
    keep = values != 0.0
    if not keep.all():
        ids, values = ids[keep], values[keep]
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows[keep], minlength=indptr.size - 1))])
    return sp.csr_matrix((values, ids, indptr), shape=(indptr.size - 1, TOKEN_FEATURES))


def fit_spread(residual: np.ndarray, nearest: np.ndarray) -> np.ndarray:
    """Training only: robust spread (1.4826 x MAD) of out-of-fold residuals per nearest-neighbour
    similarity bin; a bin with under 30 rows takes the overall spread."""
    ok = np.isfinite(residual)
    bins = np.searchsorted(np.asarray(SIM_EDGES), nearest, side="right")

    def mad(r: np.ndarray) -> float:
        return float(1.4826 * np.median(np.abs(r - np.median(r)))) if r.size else 1.0

    overall = max(mad(residual[ok]), 1e-3)
    return np.asarray(
        [
            max(mad(residual[ok & (bins == b)]), 1e-3) if (ok & (bins == b)).sum() >= 30 else overall
            for b in range(len(SIM_EDGES) + 1)
        ]
    )


def _predictions(ctx: RowContext) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Per row: predicted log price with its sub-category, without it, and what each residual is
    divided by (:meth:`PriceLookup.scale`).

    Computed once per frame, for at most ``ctx.max_residual_titles`` distinct titles (evenly
    spaced; NaN for the others): enough for the tests, and bounded work on large batches."""
    if "price_given_title" in ctx.cache:
        return ctx.cache["price_given_title"]
    tokens, _, unique, inverse = ctx.titles
    chosen = np.arange(len(unique))
    cap = ctx.max_residual_titles
    if cap is not None and chosen.size > cap:
        chosen = np.linspace(0, chosen.size - 1, cap).round().astype(np.int64)
    words = tokens.presence(None if chosen.size == len(unique) else chosen)  # presence, as the model was fitted
    sub = ctx.bucket("subcategory")
    first_row = np.zeros(len(unique), dtype=np.int64)  # the sub-category of a title's first row
    if inverse is not None:
        first_row[inverse[::-1]] = np.arange(ctx.n)[::-1]
    else:
        first_row = np.arange(ctx.n)
    price = ctx.lookups.price
    with_sub, without, nearest = price.predict_both(words, sub[first_row[chosen]])
    out = np.full((4, len(unique)), np.nan)
    out[:, chosen] = (with_sub, price.scale(nearest), without, price.scale(nearest, title_only=True))
    with_sub, spread, title, title_spread = (ctx.per_row(v) for v in out)
    ctx.cache["price_given_title"] = result = ((with_sub, spread), (title, title_spread))
    return result


def residual(ctx: RowContext) -> np.ndarray:
    """(log price - its prediction from title and sub-category) / the prediction's expected
    error squared (:data:`SPREAD_POWER`), on rows that sent a sub-category (NaN on the others:
    see :func:`residual_title`)."""
    if not np.isfinite(ctx.number("price")).any():
        return np.full(ctx.n, np.nan)  # no price sent: no neighbour search
    (expected, spread), _ = _predictions(ctx)
    out = (ctx.log1p("price") - expected) / spread
    out[np.isnan(ctx.bucket("subcategory"))] = np.nan
    return out


def residual_title(ctx: RowContext) -> np.ndarray:
    """The same from the title alone, on rows that sent no sub-category (every row with
    ``ctx.every_profile``): their traffic is compared with training's title-only residuals."""
    if not np.isfinite(ctx.number("price")).any():
        return np.full(ctx.n, np.nan)
    _, (expected, spread) = _predictions(ctx)
    out = (ctx.log1p("price") - expected) / spread
    if not ctx.every_profile:
        out[~np.isnan(ctx.bucket("subcategory"))] = np.nan
    return out


__all__ = [
    "ENV_TITLE_CACHE",
    "KNN_K",
    "KNN_K_BEFORE_STORED",
    "KNN_SIM",
    "SIM_EDGES",
    "SPREAD_POWER",
    "PriceLookup",
    "TitleCache",
    "fit_spread",
    "residual",
    "residual_title",
    "tfidf_rows",
    "title_cache_size",
]
