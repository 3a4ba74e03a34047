"""A title's margin with one word left out, computed from the columns that word changes, must equal
scoring the shortened title through ``transform`` -- on hostile titles too."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import features.ngrams as ngrams
from features.ngrams import FastTfidf
from features.word_removal import TitleWords, leave_one_out, word_parts
from training.synthetic import generate_synthetic_products

ODD = [
    "Nike x Nike shoes",  # a repeated word, a word without a token between two with tokens
    "bag bag bag",
    "usb-c usb-c cable & charger - fast",  # words with two tokens each, punctuation-only words
    "a",
    "x y z",
    "  ",
    "",
    "İstanbul ΟΔΟΣ ΣΟΦΟΣ crème",  # lower() changes lengths and context
    "emoji 😀😀 👍🏽 tab\tsep\xa0nbsp",
]


@pytest.fixture(scope="module")
def fitted() -> tuple[FastTfidf, np.ndarray, list[str]]:
    titles = generate_synthetic_products(500, seed=11)["title"].tolist()
    vectorizer = FastTfidf(max_features=20_000).fit(titles + ODD)
    weights = np.random.default_rng(0).normal(size=(vectorizer.n_features_, 4)).astype(np.float32)
    return vectorizer, weights, titles[:120] + ODD


def _score(vectorizer: FastTfidf, weights: np.ndarray, texts: list[str], column: np.ndarray) -> np.ndarray:
    x = vectorizer.transform(texts)
    return np.asarray((x @ weights)[np.arange(len(texts)), column], dtype="float64")


def test_every_word_left_out_equals_scoring_the_shortened_title(fitted):
    vectorizer, weights, titles = fitted
    words = [t.split() for t in titles]
    column = np.arange(len(titles)) % weights.shape[1]
    tw = TitleWords.of(vectorizer, words)
    title_of, word_of, occurrences = tw.pairs()
    assert len(title_of) == sum(len(set(w)) for w in words)
    full, without = leave_one_out(vectorizer, tw, weights, column, title_of, word_of, occurrences)
    np.testing.assert_allclose(full, _score(vectorizer, weights, titles, column), atol=2e-5)
    shortened = [" ".join(w for w in words[t] if w != tw.words[u]) for t, u in zip(title_of, word_of, strict=True)]
    want = _score(vectorizer, weights, shortened, column[title_of])
    np.testing.assert_allclose(without, want, atol=2e-5)
    assert np.abs(full[title_of] - without).max() > 0.01  # the words do move the margins


def test_a_word_on_its_own_is_scored_as_transform_scores_it(fitted):
    vectorizer, weights, titles = fitted
    tw = TitleWords.of(vectorizer, [t.split() for t in titles])
    ids = np.arange(len(tw.words))
    column = ids % weights.shape[1]
    got = word_parts(vectorizer, tw, weights, ids, column)
    np.testing.assert_allclose(got, _score(vectorizer, weights, tw.words, column), atol=2e-5)


def test_term_counts_are_what_transform_weighs(fitted, monkeypatch):
    vectorizer, _, titles = fitted
    counts = vectorizer.term_counts(titles)
    assert np.array_equal(counts.data, np.round(counts.data)) and (counts.data >= 1).all()
    # sublinear tf, idf and the l2 norm per block, applied to the counts, give transform's rows
    tf = counts.copy()
    tf.data = (np.log(tf.data) + 1) * vectorizer.idf_[tf.indices]
    blocks = [tf[:, : vectorizer.n_word_features_], tf[:, vectorizer.n_word_features_ :]]
    norms = [np.sqrt(np.asarray(b.multiply(b).sum(axis=1))).ravel() for b in blocks]
    weighed = sp.hstack([sp.diags(1 / np.where(n > 0, n, 1)) @ b for b, n in zip(blocks, norms, strict=True)])
    np.testing.assert_allclose(weighed.toarray(), vectorizer.transform(titles).toarray(), atol=1e-6)
    # chunked batches count the same and keep every document's token ends
    matrix, ends = vectorizer.term_counts_and_ends(titles)
    monkeypatch.setattr(ngrams, "_CHUNK_CHARS", 500)
    chunked, chunked_ends = vectorizer.term_counts_and_ends(titles)
    assert (matrix != chunked).nnz == 0 and (matrix != counts).nnz == 0
    assert np.array_equal(ends.first, chunked_ends.first) and np.array_equal(ends.last, chunked_ends.last)
    no_token = [titles.index(t) for t in ("a", "x y z", "  ", "")]  # tokens are runs of >= 2 word characters
    assert not ends.has_token[no_token].any() and ends.has_token[0]


def test_titles_without_words_and_empty_batches(fitted):
    vectorizer, weights, _ = fitted
    tw = TitleWords.of(vectorizer, [[], ["a"], []])
    title_of, word_of, occurrences = tw.pairs()
    full, without = leave_one_out(vectorizer, tw, weights, np.zeros(3, dtype=np.int64), title_of, word_of, occurrences)
    assert full[0] == full[2] == 0.0 and without.tolist() == [0.0]  # nothing left: no n-gram, no margin
    empty = TitleWords.of(vectorizer, [])
    assert leave_one_out(vectorizer, empty, weights, np.zeros(0, dtype=np.int64), *empty.pairs())[1].shape == (0,)
