"""The price-given-title model: neighbours as scipy's sparse cosine product finds them, state that round-trips.

Why: serving computes similarities from the index's posting lists in plain numpy (the sparse
machinery costs more than the arithmetic for a few rows); it must give the same neighbours.
"""

from __future__ import annotations

import itertools
import json
import pickle

import numpy as np
import pandas as pd
import pytest

from pyfunc_model.drift import DriftReference
from pyfunc_model.drift.signals import price_given_title
from pyfunc_model.drift.signals.price_given_title import (
    KNN_K,
    KNN_K_BEFORE_STORED,
    KNN_SIM,
    SPREAD_POWER,
    PriceLookup,
)
from pyfunc_model.drift.summary import RowContext, title_tokens


def test_similarities_equal_the_sparse_product(reference: DriftReference, fresh: pd.DataFrame) -> None:
    price = reference.lookups().price
    words = title_tokens(fresh["title"].tolist() + ["", "zzqx unseenword"])[0].presence().tocsr()
    query = words.multiply(price.idf[None, :]).tocsr()
    norms = np.sqrt(np.asarray(query.multiply(query).sum(axis=1)).ravel())
    query = query.multiply(1.0 / np.where(norms > 0, norms, 1.0)[:, None]).tocsr()
    expected = (query @ price.index).toarray()

    rows = np.repeat(np.arange(query.shape[0]), np.diff(query.indptr))
    got = price._similarities(rows, query.indices, query.data, query.shape[0])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert (got > 0).any()
    np.testing.assert_array_equal(got[-2:], 0.0)  # empty and unseen titles match nothing


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
    query = title_tokens(["tv model7 pack"])[0].presence().tocsr()
    weights = query.data * lookup.idf[query.indices]
    sims = lookup._similarities(
        np.zeros(query.nnz, dtype=np.int64), query.indices, weights / np.linalg.norm(weights), 1
    )[0]
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
