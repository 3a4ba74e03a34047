"""The price-given-title model: neighbours as scipy's sparse cosine product finds them, state that round-trips.

Why: serving keeps each row's top similarities with a compiled top-n product (sparse_dot_topn's
function, called directly); it must give the most similar titles of the plain product.
"""

from __future__ import annotations

import itertools
import json
import pickle

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sparse_dot_topn import sp_matmul_topn

from pyfunc_model.drift import DriftReference
from pyfunc_model.drift.signals import price_given_title
from pyfunc_model.drift.signals.price_given_title import (
    KNN_K,
    KNN_K_BEFORE_STORED,
    KNN_SIM,
    SELF_SIMILARITY,
    SPREAD_POWER,
    PriceLookup,
)
from pyfunc_model.drift.summary import RowContext, title_tokens


def _dense_similarities(price: PriceLookup, words: object) -> np.ndarray:
    """Rows x training titles cosine similarities by scipy's plain sparse product."""
    q = price._query(words)
    query = sp.csr_matrix((q.data, q.indices, q.indptr), shape=(q.indptr.size - 1, price.index.shape[0]))
    return (query @ price.index).toarray()


def _assert_neighbours_are_the_most_similar(price: PriceLookup, words: object) -> np.ndarray:
    """Each row's neighbours are its k most similar training titles, own-word titles left out,
    most similar first; ``own`` is the lowest-index title at the self similarity. Returns the
    number of neighbours per row."""
    expected = _dense_similarities(price, words)
    indptr, columns, sims, own = price.neighbour_lists(words)
    k = price.knn_k
    for row, dense in enumerate(expected):
        got_cols, got_sims = columns[indptr[row] : indptr[row + 1]], sims[indptr[row] : indptr[row + 1]]
        same = dense >= SELF_SIMILARITY
        assert own[row] == (int(np.flatnonzero(dense == dense.max())[0]) if same.any() else -1)
        others = np.sort(dense[~same & (dense > 0)])[::-1][:k]
        np.testing.assert_allclose(got_sims, others, rtol=0, atol=1e-12)  # the k largest, in order
        np.testing.assert_allclose(dense[got_cols], got_sims, rtol=0, atol=1e-12)  # of the titles named
        assert len(set(got_cols.tolist())) == got_cols.size
    return np.diff(indptr)


def test_neighbours_are_the_most_similar_training_titles(reference: DriftReference, fresh: pd.DataFrame) -> None:
    price = reference.lookups().price
    words = title_tokens(fresh["title"].tolist() + ["", "zzqx unseenword"])[0].presence().tocsr()
    found = _assert_neighbours_are_the_most_similar(price, words)
    assert (found == price.knn_k).sum() >= len(fresh) // 2
    assert found[-2:].tolist() == [0, 0]  # empty and unseen titles match nothing
    knn, best, _ = price._search(words)
    assert best[-2:].tolist() == [0.0, 0.0] and np.isfinite(knn).all()


def test_a_title_repeated_more_often_than_the_product_keeps_is_searched_again() -> None:
    """Titles with the query's own words never count as its neighbours; when they fill every
    entry the product kept, the row is searched again with room for the others."""
    rng = np.random.default_rng(1)
    titles = ["steel water bottle"] * 40 + [f"steel water bottle {rng.integers(1000)} blue" for _ in range(30)]
    titles += [f"cotton shirt size{rng.integers(50)}" for _ in range(200)]
    log_price = rng.normal(6.0, 0.5, len(titles))
    lookup = PriceLookup.fit(title_tokens(titles)[0].presence().tocsr(), np.full(len(titles), np.nan), log_price)
    words = title_tokens(["steel water bottle", "cotton shirt size7"])[0].presence().tocsr()
    found = _assert_neighbours_are_the_most_similar(lookup, words)
    assert found.tolist() == [lookup.knn_k, lookup.knn_k]
    assert lookup.neighbour_lists(words)[3].tolist()[0] == 0  # the first of the 40 copies


def test_the_compiled_product_is_the_librarys_public_top_n(reference: DriftReference, fresh: pd.DataFrame) -> None:
    """The search calls sparse_dot_topn's compiled function directly; it keeps what the
    library's public function keeps."""
    price = reference.lookups().price
    words = title_tokens(fresh["title"].tolist())[0].presence().tocsr()
    q = price._query(words)
    query = sp.csr_matrix((q.data, q.indices, q.indptr), shape=(q.indptr.size - 1, price.index.shape[0]))
    public = sp_matmul_topn(query, price.index, top_n=3 * price.knn_k, sort=True)
    dense = _dense_similarities(price, words)
    indptr, columns, sims, _ = price_given_title._top_others(q, price._index_arrays, 3 * price.knn_k, 3 * price.knn_k)
    for row in range(query.shape[0]):
        start, end = public.indptr[row], public.indptr[row + 1]
        keep = public.data[start:end] < SELF_SIMILARITY
        theirs = public.data[start:end][keep]
        ours, our_cols = sims[indptr[row] : indptr[row + 1]], columns[indptr[row] : indptr[row + 1]]
        assert ours.size >= theirs.size  # a row its own-word titles crowded is searched again
        np.testing.assert_array_equal(ours[: theirs.size], theirs)
        np.testing.assert_allclose(dense[row, our_cols], ours, rtol=0, atol=1e-12)  # ties: either title


def test_one_row_and_a_batch_give_the_same_prediction(reference: DriftReference, fresh: pd.DataFrame) -> None:
    price = reference.lookups().price
    words = title_tokens(fresh["title"].tolist())[0].presence().tocsr()
    subcategory = np.zeros(words.shape[0])
    batch = price.predict(words, subcategory)
    for i in (0, 7, words.shape[0] - 1):
        one = price.predict(words[i : i + 1], subcategory[i : i + 1])
        np.testing.assert_allclose([one[0][0], one[1][0]], [batch[0][i], batch[1][i]], rtol=0, atol=1e-12)


def test_stored_state_round_trips_and_predicts_the_same(reference: DriftReference, fresh: pd.DataFrame) -> None:
    """The signal's JSON state (the reference's ``price_model`` entry) decodes to the same model."""
    price = reference.lookups().price
    state = reference.price_model
    again = PriceLookup.from_state(state).to_state(np.array([state["residual_std"]]))
    assert {k: v for k, v in again.items() if k != "residual_std"} == {
        k: v for k, v in state.items() if k != "residual_std"
    }
    words = title_tokens(fresh["title"].tolist())[0].presence().tocsr()
    subcategory = np.zeros(words.shape[0])
    decoded = PriceLookup.from_state(json.loads(json.dumps(state)))
    for a, b in zip(price.predict_both(words, subcategory), decoded.predict_both(words, subcategory), strict=True):
        np.testing.assert_array_equal(a, b)
    assert price.index_own is not None and price.sigma_title is not None  # every optional part was stored


def test_residual_is_divided_by_the_spread_squared_and_older_states_keep_their_power(
    reference: DriftReference, fresh: pd.DataFrame
) -> None:
    """A new reference stores its spread power; one stored without it divides by the spread
    itself, as its residual sketch was built."""
    state = reference.price_model
    assert state["spread_power"] == SPREAD_POWER == 2.0
    nearest = np.array([0.0, 0.4, 0.95])
    new = PriceLookup.from_state(state)
    np.testing.assert_allclose(new.scale(nearest), new.spread(nearest) ** 2)
    old = PriceLookup.from_state({k: v for k, v in state.items() if k != "spread_power"})
    np.testing.assert_array_equal(old.scale(nearest), old.spread(nearest))
    ctx = RowContext(fresh.head(40).reset_index(drop=True), reference.lookups())
    residual = price_given_title.residual(ctx)
    (expected, scale), _ = ctx.cache["price_given_title"]
    sent = np.isfinite(residual)
    assert sent.sum() >= 10
    np.testing.assert_allclose(residual[sent], (ctx.log1p("price")[sent] - expected[sent]) / scale[sent])


def test_a_reference_keeps_the_neighbour_count_it_was_fitted_with(
    reference: DriftReference, fresh: pd.DataFrame
) -> None:
    """The price of a title averages KNN_K neighbours in a new reference; a state stored before
    the count was stored is priced with the five its residual sketch was built with."""
    state = reference.price_model
    assert state["knn_k"] == KNN_K == 8
    old = PriceLookup.from_state({k: v for k, v in state.items() if k != "knn_k"})
    new = PriceLookup.from_state(state)
    assert (old.knn_k, new.knn_k) == (KNN_K_BEFORE_STORED, KNN_K) == (5, 8)
    words = title_tokens(fresh["title"].tolist())[0].presence().tocsr()
    subcategory = np.zeros(words.shape[0])
    close = np.flatnonzero(new.predict(words, subcategory)[1] > KNN_SIM[0])  # the neighbours count there
    assert close.size >= 10
    assert not np.allclose(old.predict(words, subcategory)[0][close], new.predict(words, subcategory)[0][close])


def test_common_words_that_do_not_tell_prices_apart_leave_the_neighbour_search() -> None:
    """A word in most titles costs the search its whole posting list; it is dropped only when
    its titles' prices spread as widely as all titles' ("pack"), kept when it sets the price ("tv")."""
    rng = np.random.default_rng(0)
    n = 800
    tv = rng.random(n) < 0.4
    pack = rng.random(n) < 0.4
    titles = [
        " ".join(["tv" if t else "cable", f"model{rng.integers(300)}", *(["pack"] if p else [])])
        for t, p in zip(tv, pack, strict=True)
    ]
    log_price = np.where(tv, 10.0, 5.0) + rng.normal(0.0, 0.3, n)
    words = title_tokens(titles)[0].presence().tocsr()
    lookup = PriceLookup.fit(words, np.full(n, np.nan), log_price)

    def token(word: str) -> int:
        return int(title_tokens([word])[0].indices[0])

    assert lookup.idf[token("pack")] == 0.0
    assert lookup.idf[token("tv")] > 0.0 and lookup.idf[token("cable")] > 0.0
    postings = np.diff(lookup.index.indptr)
    assert postings[token("pack")] == 0 and postings[token("tv")] == tv.sum()
    # to the search, a title with the dropped word is the same title without it
    sims = _dense_similarities(lookup, title_tokens(["tv model7 pack"])[0].presence().tocsr())[0]
    same = [i for i, t in enumerate(titles) if t in ("tv model7", "tv model7 pack")]
    assert same and np.allclose(sims[same], 1.0)
    assert np.delete(sims, same).max() < 0.99  # "cable model7": the model number only


def test_titles_seen_before_get_their_neighbours_from_the_cache_unchanged(
    reference: DriftReference, fresh: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What depends on the title alone is kept per process: a title sent again is not searched
    again, and its answer is the searched one to the last bit; the cache stays bounded."""
    titles = fresh["title"].tolist()
    words = title_tokens(titles)[0].presence()
    subcategory = np.zeros(words.shape[0])
    searched = PriceLookup.from_state(reference.price_model)
    expected = searched.predict_both(words, subcategory)
    keys = [tuple(words.indices[a:b]) for a, b in itertools.pairwise(words.indptr)]
    assert len(searched.cache) == len(set(keys))

    cached = PriceLookup.from_state(reference.price_model)
    half = np.arange(0, words.shape[0], 2)
    cached.predict_both(words.presence(half), subcategory[half])  # every other title seen before
    calls: list[int] = []
    search = cached._search
    monkeypatch.setattr(cached, "_search", lambda w: calls.append(w.shape[0]) or search(w))
    for a, b in zip(cached.predict_both(words, subcategory), expected, strict=True):
        np.testing.assert_array_equal(a, b)
    unseen = sum(key not in {keys[i] for i in half} for key in keys)
    assert calls == [unseen] and unseen >= words.shape[0] // 3  # only titles not seen before were searched
    cached.predict_both(words, subcategory)
    assert calls == [unseen]

    monkeypatch.setattr(price_given_title, "MAX_CACHED_TITLES", 5)
    bounded = PriceLookup.from_state(reference.price_model)
    for a, b in zip(bounded.predict_both(words, subcategory), expected, strict=True):
        np.testing.assert_array_equal(a, b)
    assert len(bounded.cache) == 5
    assert len(pickle.loads(pickle.dumps(bounded)).cache) == 0  # a pickled model starts empty


def test_the_title_cache_is_sized_by_the_environment(reference: DriftReference, fresh: pd.DataFrame) -> None:
    """An operator sizes (or turns off) the cache with an environment variable; a bad value names it."""
    assert price_given_title.title_cache_size({}) == price_given_title.MAX_CACHED_TITLES
    assert price_given_title.title_cache_size({price_given_title.ENV_TITLE_CACHE: " 1000 "}) == 1000
    for bad in ("-1", "lots", "1.5"):
        with pytest.raises(ValueError, match=price_given_title.ENV_TITLE_CACHE):
            price_given_title.title_cache_size({price_given_title.ENV_TITLE_CACHE: bad})
    off = PriceLookup.from_state(reference.price_model)
    off.cache = price_given_title.TitleCache(0)
    words = title_tokens(fresh["title"].tolist())[0].presence()
    subcategory = np.zeros(words.shape[0])
    expected = PriceLookup.from_state(reference.price_model).predict_both(words, subcategory)
    for a, b in zip(off.predict_both(words, subcategory), expected, strict=True):
        np.testing.assert_array_equal(a, b)
    assert len(off.cache) == 0
