"""A linear title scorer's margin with one word left out, without vectorising the shortened title.

Explaining an answer leaves each candidate word out of its title in turn. Vectorising every such
variant costs several transforms of the batch; but a title's n-gram counts are the sum of its
words' own (char_wb n-grams and word tokens are formed inside a word) plus the bigrams that
neighbouring words form. So a variant's counts are the title's minus the left-out word's (times
its occurrences), with the bigrams around it re-formed, and only those columns change the
tf-idf norm and the dot product. The result equals scoring ``transform(variant)`` up to float
rounding (tested).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from features.ngrams import FastTfidf
from features.sparse_rows import concat_ranges, row_positions


@dataclass
class TitleWords:
    """Titles as whitespace-split words, with what each distinct word brings on its own."""

    words: list[str]  # distinct words of all titles
    title: np.ndarray  # per word position (titles one after the other): its title ...
    word: np.ndarray  # ... and its word id
    pieces: sp.csr_matrix  # distinct words x n-grams: each word's own counts
    first: np.ndarray  # per distinct word, the key of its first word token ...
    last: np.ndarray  # ... and of its last one
    has_token: np.ndarray  # False for words without a token (one character, punctuation)
    counts: sp.csr_matrix  # titles x n-grams: each title's counts

    @classmethod
    def of(cls, vectorizer: FastTfidf, titles: Sequence[Sequence[str]]) -> TitleWords:
        """``titles``: each title's words."""
        index: dict[str, int] = {}
        word = np.fromiter((index.setdefault(w, len(index)) for t in titles for w in t), dtype=np.int64)
        title = np.repeat(np.arange(len(titles)), [len(t) for t in titles])
        words = list(index)
        # one pass over the words and the titles; only the words' token ends are kept
        both, ends = vectorizer.term_counts_and_ends(words + [" ".join(t) for t in titles])
        own = slice(0, len(words))
        pieces, counts = both[own], both[len(words) :]
        return cls(words, title, word, pieces, ends.first[own], ends.last[own], ends.has_token[own], counts)

    def pairs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(title, word id, occurrences) of each distinct word of each title, titles in order and
        words in the order they first appear."""
        size = max(len(self.words), 1)
        keys, first_at, occurrences = np.unique(self.title * size + self.word, return_index=True, return_counts=True)
        order = np.argsort(first_at, kind="stable")
        keys = keys[order]
        return keys // size, keys % size, occurrences[order]


def _tf_idf(vectorizer: FastTfidf, counts: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """What ``transform`` weighs a count with before the norm (0 for a count of 0)."""
    counts = counts.astype("float64")
    tf = np.zeros_like(counts)
    pos = counts > 0
    tf[pos] = 1.0 + np.log(counts[pos]) if vectorizer.sublinear_tf else counts[pos]
    return tf * vectorizer.idf_[cols].astype("float64")


def _block_sums(
    vectorizer: FastTfidf,
    rows: np.ndarray,
    cols: np.ndarray,
    counts: np.ndarray,
    weights: np.ndarray,
    column: np.ndarray,
    n: int,
    before: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row and block (word, char) of the entries (row, col, count): sum of weight x tf-idf value,
    sum of squared values, non-zero entries; the weight is ``weights[col, column[row]]``. With
    ``before`` (what each entry counted before): how much each of those sums changed."""
    g = _tf_idf(vectorizer, counts, cols)
    dot, square, live = g, g * g, (g != 0).astype("float64")
    if before is not None:
        g0 = _tf_idf(vectorizer, before, cols)
        dot, square, live = g - g0, square - g0 * g0, live - (g0 != 0)
    w = weights[cols, column[rows]].astype("float64")
    slot = 2 * rows + (cols >= vectorizer.n_word_features_)
    size = 2 * n
    return (
        np.bincount(slot, weights=w * dot, minlength=size).reshape(n, 2),
        np.bincount(slot, weights=square, minlength=size).reshape(n, 2),
        np.bincount(slot, weights=live, minlength=size).reshape(n, 2),
    )


def _parts(dot: np.ndarray, square: np.ndarray, nonzero: np.ndarray) -> np.ndarray:
    """Sum over the two l2-normalised blocks of (weights . values) / norm; an empty block adds 0."""
    live = nonzero > 0.5
    out = np.zeros_like(dot)
    out[live] = dot[live] / np.sqrt(square[live])
    return out.sum(axis=1)


def _entries(counts: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, column, value) of each stored entry of a csr matrix."""
    return np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr)), counts.indices, counts.data


def _gather(matrix: sp.csr_matrix, row_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``_entries`` of ``matrix[row_ids]`` without building it (rows may repeat)."""
    at, sizes = row_positions(matrix.indptr, row_ids)
    return np.repeat(np.arange(len(row_ids)), sizes), matrix.indices[at], matrix.data[at]


def word_parts(
    vectorizer: FastTfidf, tw: TitleWords, weights: np.ndarray, word_of: np.ndarray, column: np.ndarray
) -> np.ndarray:
    """Per listed word id, the linear part of the word on its own for ``column``: ``transform([word])``
    . ``weights[:, column]``."""
    rows, cols, data = _gather(tw.pieces, word_of)
    return _parts(*_block_sums(vectorizer, rows, cols, data, weights, column, len(word_of)))


def _bigram_changes(tw: TitleWords, vectorizer: FastTfidf, title_of: np.ndarray, word_of: np.ndarray):
    """(variant, column, count removed) of the bigrams that change when a variant's word leaves its
    title: those it formed with its neighbours go (+1), the one its neighbours now form comes (-1)."""
    bearing = tw.has_token[tw.word]  # only words with tokens form bigrams
    seq_word, seq_title = tw.word[bearing], tw.title[bearing]
    per_title = np.bincount(seq_title, minlength=tw.counts.shape[0])
    lengths = per_title[title_of]
    start = (np.cumsum(per_title) - per_title)[title_of]
    flat = seq_word[concat_ranges(start, lengths)]
    variant = np.repeat(np.arange(len(title_of)), lengths)
    keep = flat != word_of[variant]
    same = variant[1:] == variant[:-1]
    lost = np.flatnonzero(same & ~(keep[1:] & keep[:-1]))
    kept = np.flatnonzero(keep)
    gained = (variant[kept[1:]] == variant[kept[:-1]]) & (np.diff(kept) > 1)
    a = np.concatenate([lost, kept[:-1][gained]])
    b = np.concatenate([lost + 1, kept[1:][gained]])
    sign = np.concatenate([np.ones(len(lost), dtype=np.int64), -np.ones(int(gained.sum()), dtype=np.int64)])
    cols = vectorizer.bigram_columns(tw.last[flat[a]], tw.first[flat[b]]).astype(np.int64)
    found = cols >= 0
    return variant[a][found], cols[found], sign[found]


def leave_one_out(
    vectorizer: FastTfidf,
    tw: TitleWords,
    weights: np.ndarray,
    column: np.ndarray,
    title_of: np.ndarray,
    word_of: np.ndarray,
    occurrences: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """(each title's linear part: its tf-idf row . ``weights[:, column[title]]``; each variant's):
    variant ``v`` is title
    ``title_of[v]`` without the ``occurrences[v]`` occurrences of word id ``word_of[v]`` (see
    :meth:`TitleWords.pairs`), computed from the columns that change."""
    n_variants = len(title_of)
    piece_variant, piece_cols, piece_counts = _gather(tw.pieces, word_of)
    piece_removed = piece_counts.astype(np.int64) * occurrences[piece_variant]
    b_variant, b_cols, b_removed = _bigram_changes(tw, vectorizer, title_of, word_of)
    n_features = vectorizer.n_features_
    # a word's columns are distinct and sorted, so its entries need no aggregation; the few
    # bigram changes are summed and added to an entry of the same column where there is one
    keys = piece_variant * n_features + piece_cols
    removed = piece_removed.astype("float64")
    b_keys, inverse = np.unique(b_variant * n_features + b_cols, return_inverse=True)
    b_sums = np.bincount(inverse, weights=b_removed, minlength=len(b_keys))
    at = np.clip(np.searchsorted(keys, b_keys), 0, max(len(keys) - 1, 0))
    shared = keys[at] == b_keys if len(keys) else np.zeros(len(b_keys), dtype=bool)
    np.add.at(removed, at[shared], b_sums[shared])
    keys = np.concatenate([keys, b_keys[~shared]])
    removed = np.concatenate([removed, b_sums[~shared]])
    variant, cols = keys // n_features, keys % n_features
    # each changed column's count in the whole title
    counts = tw.counts
    rows, title_cols, data = _entries(counts)
    title_keys = rows * n_features + title_cols
    query = title_of[variant] * n_features + cols
    pos = np.clip(np.searchsorted(title_keys, query), 0, max(len(title_keys) - 1, 0))
    before = np.zeros(len(query))
    if len(title_keys):
        hit = title_keys[pos] == query
        before[hit] = counts.data[pos[hit]]
    after = np.maximum(before - removed, 0.0)  # never below 0 (exact counts: a guard, not a correction)
    changes = _block_sums(vectorizer, variant, cols, after, weights, column[title_of], n_variants, before=before)
    title_sums = _block_sums(vectorizer, rows, title_cols, data, weights, column, counts.shape[0])
    # per variant: its title's sums plus, per block, what the changed columns changed
    without = _parts(*(t[title_of] + c for t, c in zip(title_sums, changes, strict=True)))
    return _parts(*title_sums), without
