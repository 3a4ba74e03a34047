"""Vectorised word 1-2 gram + char_wb 3-5 gram TF-IDF: scikit-learn's matrix at ~20x the speed.

``TfidfVectorizer``'s analyzers build every n-gram as a Python string and look it up in a dict;
on titles that is ~3,500 rows/s and ~1 ms for a single row, the bulk of serving time.
``FastTfidf`` learns its vocabulary and idf with scikit-learn itself (so they are exactly what the
two vectorizers learn, ties at ``max_features`` included) and then answers ``transform`` with numpy
over one code-point array of the whole batch:

- char_wb n-grams are encoded exactly: each character of the fitted vocabulary gets a code in
  ``1..A`` and an n-gram is its base-``A+1`` number (injective while ``(A+1)**5 < 2**63``; beyond
  that the numbers wrap and act as a 64-bit hash). n-grams with a character the vocabulary never
  saw cannot be in it and are dropped before the lookup.
- word tokens (sklearn's ``(?u)\\b\\w\\w+\\b`` = runs of >= 2 word characters) are keyed by a 64-bit
  polynomial prefix hash, mixed with the length; bigrams by mixing their two unigram keys. A
  wrong hit needs a 64-bit collision with one of the vocabulary keys (~1e-14 per token for
  natural text); the keys are fixed constants, so they are identical in every process.
- lookups go through an open-addressing hash table probed with numpy; counts, sublinear tf, idf
  and the per-block l2 norm follow scikit-learn's float32 arithmetic step by step, so the result
  equals ``hstack([word.transform(X), char.transform(X)])`` bit for bit (tested).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.utils.validation import check_is_fitted

from features.chars import char_classes, code_points
from features.text import distinct

_U64 = np.uint64
#: odd multipliers (digits of pi / golden ratio): fixed, so keys are the same in every process
_POLY = 0x9E3779B97F4A7C15
_POLY_INV = pow(_POLY, -1, 1 << 64)
_MIX1 = _U64(0xBF58476D1CE4E5B9)
_MIX2 = _U64(0x94D049BB133111EB)
_LEN_SALT = _U64(0x243F6A8885A308D3)
_PAIR_SALT = _U64(0x13198A2E03707344)
_FIB = _U64(0x9E3779B97F4A7C15)


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads the polynomial hash so any bit range is usable."""
    x = x ^ (x >> _U64(30))
    x = x * _MIX1
    x = x ^ (x >> _U64(27))
    x = x * _MIX2
    return x ^ (x >> _U64(31))


class _KeyTable:
    """Open-addressing hash table uint64 key -> int32 value, probed for whole arrays at once.

    ``np.searchsorted`` over 10^5 keys costs ~100 ns per query; one multiplicative hash and a
    gather or two cost ~10 ns. Key 0 marks an empty slot, so stored keys must be non-zero.
    """

    def __init__(self, keys: np.ndarray, values: np.ndarray) -> None:
        keys = np.asarray(keys, dtype=_U64)
        if (keys == 0).any() or len(np.unique(keys)) != len(keys):
            raise ValueError("keys must be distinct and non-zero")
        bits = max(4, int(np.ceil(np.log2(max(len(keys), 1) * 3))))
        self.shift = _U64(64 - bits)
        self.mask = (1 << bits) - 1
        self.keys = np.zeros(1 << bits, dtype=_U64)
        self.values = np.full(1 << bits, -1, dtype=np.int32)
        slot = self._slot(keys)
        todo = np.arange(len(keys))
        while len(todo):
            free = self.keys[slot] == 0
            # among the keys aiming at the same free slot, the first one takes it
            cand = np.flatnonzero(free)
            _, first = np.unique(slot[cand], return_index=True)
            won = cand[first]
            self.keys[slot[won]] = keys[todo[won]]
            self.values[slot[won]] = values[todo[won]]
            lost = np.ones(len(todo), dtype=bool)
            lost[won] = False
            todo, slot = todo[lost], (slot[lost] + 1) & self.mask

    def _slot(self, keys: np.ndarray) -> np.ndarray:
        return ((keys * _FIB) >> self.shift).view(np.int64)

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Value per key, -1 where absent."""
        slot = self._slot(keys)
        found = self.keys[slot]
        out = self.values[slot]
        # linear probing: only the (few) keys whose home slot holds another key walk on
        todo = np.flatnonzero(found != keys)
        out[todo] = -1
        go_on = found[todo] != 0
        todo = todo[go_on]
        keys, slot = keys[todo], slot[todo]
        while len(todo):
            slot = (slot + 1) & self.mask
            found = self.keys[slot]
            hit = found == keys
            out[todo[hit]] = self.values[slot[hit]]
            go_on = ~hit & (found != 0)
            todo, keys, slot = todo[go_on], keys[go_on], slot[go_on]
        return out


def _token_keys(codes: np.ndarray, starts: np.ndarray, ends: np.ndarray, powers: np.ndarray) -> np.ndarray:
    """64-bit key of each span ``codes[starts[i]:ends[i]]`` (same text -> same key, any position)."""
    with np.errstate(over="ignore"):
        weighted = codes.astype(_U64) * powers[: len(codes)]
        prefix = np.concatenate([np.zeros(1, dtype=_U64), np.cumsum(weighted, dtype=_U64)])
        span = prefix[ends] - prefix[starts]
        # P**-start moves every span to position 0; P**-s = (P**-1)**s computed as a power table
        inv = _inverse_powers(starts, len(codes))
        key = _mix(span * inv ^ (ends - starts).astype(_U64) * _LEN_SALT)
    return key | _U64(1)


def _powers(base: int, n: int) -> np.ndarray:
    """``base**i mod 2**64`` for i < n."""
    out = np.full(n, base, dtype=_U64)
    out[0] = 1
    with np.errstate(over="ignore"):
        return np.cumprod(out, dtype=_U64)


_POWER_CACHE: dict[int, np.ndarray] = {}


def _cached_powers(base: int, n: int) -> np.ndarray:
    """``_powers(base, >= n)``, kept per process (grown on demand, at least 64k entries)."""
    table = _POWER_CACHE.get(base)
    if table is None or len(table) < n:
        table = _POWER_CACHE[base] = _powers(base, max(n, 1 << 16, 2 * len(table) if table is not None else 0))
    return table


def _inverse_powers(exponents: np.ndarray, n: int) -> np.ndarray:
    """``P**-e mod 2**64`` for exponents below ``n``."""
    return _cached_powers(_POLY_INV, n)[exponents]


_CHUNK_CHARS = 1 << 20


@dataclass
class TokenEnds:
    """Per document: the key of its first and of its last word token (0 when it has none)."""

    first: np.ndarray
    last: np.ndarray
    has_token: np.ndarray

    @classmethod
    def of(cls, rows: np.ndarray, keys: np.ndarray, n: int) -> TokenEnds:
        """From the tokens (row, key) of ``n`` documents, in row order."""
        lo = np.searchsorted(rows, np.arange(n), side="left")
        hi = np.searchsorted(rows, np.arange(n), side="right")
        has = hi > lo
        first, last = np.zeros(n, dtype=_U64), np.zeros(n, dtype=_U64)
        first[has], last[has] = keys[lo[has]], keys[hi[has] - 1]
        return cls(first, last, has)

    def take(self, index: np.ndarray) -> TokenEnds:
        return TokenEnds(self.first[index], self.last[index], self.has_token[index])

    @classmethod
    def concat(cls, parts: Sequence[TokenEnds]) -> TokenEnds:
        return cls(*(np.concatenate([getattr(p, f) for p in parts]) for f in ("first", "last", "has_token")))


class FastTfidf(TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Word 1-2 gram + char_wb 3-5 gram TF-IDF of a list of titles, one CSR matrix.

    Equal to ``hstack([TfidfVectorizer(ngram_range=word_ngram_range, ...),
    TfidfVectorizer(analyzer="char_wb", ngram_range=char_ngram_range, ...)])`` with the shared
    ``sublinear_tf``/``max_features``/``dtype`` settings (lowercase, default token pattern, l2 norm
    per block, smooth idf), learned by scikit-learn and applied with numpy.
    """

    def __init__(
        self,
        max_features: int | None = 300_000,
        sublinear_tf: bool = True,
        word_ngram_range: tuple[int, int] = (1, 2),
        char_ngram_range: tuple[int, int] = (3, 5),
        dtype: Any = np.float32,
    ) -> None:
        self.max_features = max_features
        self.sublinear_tf = sublinear_tf
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.dtype = dtype

    # ------------------------------------------------------------------ fitting
    def _sklearn_pair(self) -> list[TfidfVectorizer]:
        common = {"sublinear_tf": self.sublinear_tf, "dtype": self.dtype, "max_features": self.max_features}
        return [
            TfidfVectorizer(ngram_range=self.word_ngram_range, **common),
            TfidfVectorizer(analyzer="char_wb", ngram_range=self.char_ngram_range, **common),
        ]

    def fit(self, X: Iterable[str], y: object = None) -> FastTfidf:
        self.fit_transform(X)
        return self

    def fit_transform(self, X: Iterable[str], y: object = None, **fit_params: object) -> sp.csr_matrix:
        """Fit scikit-learn's pair (the reference vocabulary and idf) and return its matrix.

        That matrix is scikit-learn's own ``fit_transform`` output (indices sorted): training sees
        exactly what it saw before. It can differ from ``transform`` in the last float32 bit,
        because scikit-learn normalises it before sorting the columns.
        """
        docs = list(X)
        pair = self._sklearn_pair()
        matrix = sp.hstack([v.fit_transform(docs) for v in pair], format="csr")
        matrix.sort_indices()
        self._learn_from(pair)
        return matrix

    @classmethod
    def from_vectorizers(cls, word: TfidfVectorizer, char: TfidfVectorizer) -> FastTfidf:
        """Adopt two fitted vectorizers (e.g. from an artifact logged before this class existed)."""
        if word.analyzer != "word" or char.analyzer != "char_wb":
            raise ValueError("expected a word and a char_wb TfidfVectorizer")
        for v in (word, char):
            if (
                not v.lowercase
                or v.strip_accents
                or v.stop_words
                or v.preprocessor
                or v.binary
                or v.norm != "l2"
                or not v.use_idf
            ):
                raise ValueError(f"unsupported TfidfVectorizer settings: {v.get_params()}")
        if word.token_pattern != r"(?u)\b\w\w+\b" or word.tokenizer or word.preprocessor:
            raise ValueError("the word vectorizer must use the default token pattern")
        out = cls(
            max_features=word.max_features,
            sublinear_tf=word.sublinear_tf,
            word_ngram_range=tuple(word.ngram_range),
            char_ngram_range=tuple(char.ngram_range),
            dtype=word.dtype,
        )
        out._learn_from([word, char])
        return out

    def _learn_from(self, pair: Sequence[TfidfVectorizer]) -> None:
        word, char = pair
        if self.word_ngram_range[0] < 1 or self.word_ngram_range[1] > 2:
            raise ValueError("word_ngram_range must lie within (1, 2)")
        lo, hi = self.char_ngram_range
        if lo != 3 or not 3 <= hi <= 5:
            # shorter char_wb n-grams count the padding spaces, which transform does not emit
            raise ValueError("char_ngram_range must be (3, 3), (3, 4) or (3, 5)")
        word_terms = word.get_feature_names_out().tolist()
        char_terms = char.get_feature_names_out().tolist()
        self.n_word_features_ = len(word_terms)
        self.n_features_ = len(word_terms) + len(char_terms)
        self.idf_ = np.concatenate([word.idf_, char.idf_]).astype(self.dtype)
        self.word_keys_ = _word_term_keys(word_terms)
        alphabet = sorted({c for t in char_terms for c in t})
        self.alphabet_ = np.array([ord(c) for c in alphabet], dtype=np.uint32)
        self.char_keys_ = self._char_term_keys(char_terms)
        self.n_features_in_ = 1
        self._build_tables()

    def _alphabet_table(self) -> np.ndarray:
        table = np.zeros(int(self.alphabet_.max(initial=0)) + 2, dtype=np.int64)
        table[self.alphabet_] = np.arange(1, len(self.alphabet_) + 1)
        return table

    def _char_term_keys(self, terms: list[str]) -> np.ndarray:
        table, base = self._alphabet_table(), _U64(len(self.alphabet_) + 1)
        keys = np.zeros(len(terms), dtype=_U64)
        with np.errstate(over="ignore"):
            for i in range(max((len(t) for t in terms), default=0)):
                has = np.array([len(t) > i for t in terms], dtype=bool)
                codes = np.array([ord(t[i]) for t in terms if len(t) > i], dtype=np.int64)
                keys[has] = keys[has] * base + table[codes].astype(_U64)
        return keys

    def _build_tables(self) -> None:
        self._word_table = _KeyTable(self.word_keys_, np.arange(len(self.word_keys_), dtype=np.int32))
        self._char_table = _KeyTable(
            self.char_keys_, np.arange(len(self.char_keys_), dtype=np.int32) + self.n_word_features_
        )
        self._codes = self._alphabet_table()

    def __getstate__(self) -> dict[str, Any]:
        # the probe tables are rebuilt on load: smaller artifact, no numpy-layout assumptions
        return {k: v for k, v in self.__dict__.items() if k not in {"_word_table", "_char_table", "_codes"}}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if hasattr(self, "word_keys_"):
            self._build_tables()

    # ------------------------------------------------------------------ transform
    def transform(self, X: Iterable[str]) -> sp.csr_matrix:
        """TF-IDF rows for the documents (str; anything else is an error, as in scikit-learn).

        Batches are cut into chunks of ~``_CHUNK_CHARS`` characters: bounded temporaries (and
        power tables) whatever the batch size, and arrays that stay closer to the CPU caches.
        """
        return self._rows(X, raw=False)[0]

    def term_counts(self, X: Iterable[str]) -> sp.csr_matrix:
        """Raw n-gram counts of the documents in ``transform``'s columns: what its tf, idf and
        per-block norm are applied to (exact integers, float32)."""
        return self._rows(X, raw=True)[0]

    def term_counts_and_ends(self, X: Iterable[str]) -> tuple[sp.csr_matrix, TokenEnds]:
        """``term_counts`` and, per document, the key of its first and of its last word token.

        With :meth:`bigram_columns` the ends are what a word contributes to the bigrams it forms
        with its neighbours, so a text rebuilt from words gets the same columns as ``transform``."""
        matrix, ends = self._rows(X, raw=True, ends=True)
        assert ends is not None
        return matrix, ends

    def bigram_columns(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Column of the bigram "first second" from two token keys, -1 where not in the vocabulary."""
        if self.word_ngram_range[1] < 2 or not len(first):
            return np.full(len(first), -1, dtype=np.int32)
        return self._word_table.lookup(_pair_keys(np.asarray(first, _U64), np.asarray(second, _U64)))

    def _rows(self, X: Iterable[str], raw: bool, ends: bool = False) -> tuple[sp.csr_matrix, TokenEnds | None]:
        if not hasattr(self, "_word_table"):
            check_is_fitted(self, "word_keys_")
        docs = X if isinstance(X, list) else list(X)
        n = len(docs)
        if n == 0:
            empty = TokenEnds(np.zeros(0, dtype=_U64), np.zeros(0, dtype=_U64), np.zeros(0, dtype=bool))
            return sp.csr_matrix((0, self.n_features_), dtype=self.dtype), empty if ends else None
        unique, inverse = distinct(docs)
        if inverse is not None:  # repeated titles are vectorised once
            matrix, unique_ends = self._rows(unique, raw, ends)
            return matrix[inverse], unique_ends.take(inverse) if unique_ends is not None else None
        lowered = [d.lower() for d in docs]
        lengths = np.fromiter(map(len, lowered), dtype=np.int64, count=n)
        total = int(lengths.sum()) + n
        if total <= _CHUNK_CHARS or n == 1:
            return self._transform_chunk(lowered, lengths, raw, ends)
        bounds = np.searchsorted(np.cumsum(lengths + 1), np.arange(_CHUNK_CHARS, total, _CHUNK_CHARS))
        bounds = np.unique(np.concatenate([[0], np.maximum(bounds, 1), [n]]))
        parts = [
            self._transform_chunk(lowered[a:b], lengths[a:b], raw, ends) for a, b in itertools.pairwise(bounds.tolist())
        ]
        matrix = sp.vstack([m for m, _ in parts], format="csr")
        return matrix, TokenEnds.concat([e for _, e in parts]) if ends else None  # type: ignore[misc]

    @staticmethod
    def _stream(lowered: list[str], lengths: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Code points of " t0 t1 ... tn-1 " and the row of each position after the first: the
        separators are whitespace and non-word, so nothing crosses rows."""
        if lengths is None:
            lengths = np.fromiter(map(len, lowered), dtype=np.int64, count=len(lowered))
        codes = code_points(" " + " ".join(lowered) + " ")
        return codes, np.repeat(np.arange(len(lowered), dtype=np.int64), lengths + 1)

    def _transform_chunk(
        self, lowered: list[str], lengths: np.ndarray, raw: bool = False, ends: bool = False
    ) -> tuple[sp.csr_matrix, TokenEnds | None]:
        n = len(lowered)
        codes, row_of = self._stream(lowered, lengths)  # position i+1 -> row of char i
        space, word = char_classes(codes, ("space", "word"))
        tok_rows, tok_keys = self._tokens(codes, word, row_of)
        token_ends = TokenEnds.of(tok_rows, tok_keys, n) if ends else None
        w_rows, w_cols = self._word_hits(tok_rows, tok_keys)
        c_rows, c_cols = self._char_hits(codes, space, row_of)
        if n == 1:  # one title (online serving): a plain sort is cheapest
            return self._assemble_one(np.concatenate([w_cols, c_cols]), raw), token_ends
        # each list is in row order; a hit's slot in its row: word hits first, then char hits
        w_count, c_count = np.bincount(w_rows, minlength=n), np.bincount(c_rows, minlength=n)
        w_start = np.concatenate([[0], np.cumsum(w_count)[:-1]])
        c_start = np.concatenate([[0], np.cumsum(c_count)[:-1]])
        local = np.concatenate(
            [
                np.arange(len(w_rows)) - w_start[w_rows],
                w_count[c_rows] + np.arange(len(c_rows)) - c_start[c_rows],
            ]
        )
        rows, cols = np.concatenate([w_rows, c_rows]), np.concatenate([w_cols, c_cols])
        return self._assemble(n, rows, cols, local, w_count + c_count, raw), token_ends

    def _tokens(self, codes: np.ndarray, word: np.ndarray, row_of: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row, key) of each word token in stream order: maximal runs of >= 2 word characters
        (the stream starts and ends with a non-word character)."""
        edges = np.flatnonzero(np.diff(word.view(np.int8)))
        starts, ends = edges[0::2] + 1, edges[1::2] + 1
        keep = ends - starts >= 2
        starts, ends = starts[keep], ends[keep]
        if not len(starts):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=_U64)
        powers = _cached_powers(_POLY, len(codes))
        return row_of[starts - 1], _token_keys(codes, starts, ends, powers)

    def _word_hits(self, rows: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row, column) of the unigrams and bigrams of the tokens (row, key), in row order."""
        if not len(keys):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32)
        lo, hi = self.word_ngram_range
        # column 0: the unigram at token i, column 1: the bigram (i, i+1); row-major = row order
        grid = np.zeros((len(keys), 2), dtype=_U64)
        ok = np.zeros((len(keys), 2), dtype=bool)
        grid[:, 0], ok[:, 0] = keys, lo <= 1
        if hi >= 2 and len(keys) > 1:
            grid[:-1, 1] = _pair_keys(keys[:-1], keys[1:])
            ok[:-1, 1] = rows[1:] == rows[:-1]
        flat = np.flatnonzero(ok.ravel())
        cols = self._word_table.lookup(grid.ravel()[flat])
        found = np.flatnonzero(cols >= 0)
        return rows[flat[found] >> 1], cols[found]

    def _char_hits(self, codes: np.ndarray, space: np.ndarray, row_of: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # collapse whitespace runs to one " " (what split() + " " padding gives per word)
        double = space[1:] & space[:-1]
        if double.any():
            keep = np.concatenate([[True], ~double])
            codes, space = codes[keep], space[keep]
            # row_of[i] is the row of stream position i + 1, kept positions minus the first
            row_of = row_of[keep[1:]]
        table = self._codes
        ids = table[np.minimum(np.where(space, 32, codes), len(table) - 1)]
        known = ids > 0
        inner = known & ~space  # what a character strictly inside a window must be
        base = _U64(len(self.alphabet_) + 1)
        hi = self.char_ngram_range[1]
        m = len(codes)
        cnt = m - 2  # window start positions of the 3-grams (longer windows: fewer)
        if cnt <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int32)
        uid = ids.view(_U64)  # non-negative int64: same bits
        # one column per n, so flattening row-major yields the hits in position (hence row) order
        keys = np.zeros((cnt, hi - 2), dtype=_U64)
        ok = np.zeros((cnt, hi - 2), dtype=bool)
        with np.errstate(over="ignore"):
            keys[:, 0] = (uid[:cnt] * base + uid[1 : 1 + cnt]) * base + uid[2 : 2 + cnt]
            ok[:, 0] = known[:cnt] & inner[1 : 1 + cnt] & known[2 : 2 + cnt]
            for j, n in enumerate(range(4, hi + 1), start=1):
                c = m - n + 1
                if c <= 0:
                    break
                keys[:c, j] = keys[:c, j - 1] * base + uid[n - 1 : n - 1 + c]
                ok[:c, j] = ok[:c, j - 1] & inner[n - 2 : n - 2 + c] & known[n - 1 : n - 1 + c]
        flat = np.flatnonzero(ok.ravel())
        cols = self._char_table.lookup(keys.ravel()[flat])
        found = np.flatnonzero(cols >= 0)
        # the window's second character (position start + 1) is inside it, hence never a
        # separator: its row is the window's row, and row_of[start] is that position's row
        return row_of[flat[found] // (hi - 2)], cols[found]

    def _assemble_one(self, cols: np.ndarray, raw: bool = False) -> sp.csr_matrix:
        """``_assemble`` for a single row."""
        out_cols, counts = np.unique(cols, return_counts=True)
        rows = np.zeros(len(out_cols), dtype=np.int64)
        data = counts.astype(self.dtype) if raw else self._weights(counts, out_cols, rows, 1)
        indptr = np.array([0, len(out_cols)], dtype=np.int32)
        return self._csr(data, out_cols.astype(np.int32), indptr, 1)

    def _weights(self, counts: np.ndarray, cols: np.ndarray, row_ids: np.ndarray, n: int) -> np.ndarray:
        """scikit-learn's arithmetic, in its order and precision: log in place, +1, *idf, l2 per block.

        ``row_ids`` is twice the row of each entry (the word block's id; the char block is +1).
        """
        dtype = np.dtype(self.dtype)
        if self.sublinear_tf:
            # the same float32 log(c) + 1 per distinct count, looked up instead of recomputed
            table = np.arange(int(counts.max(initial=1)) + 1, dtype=dtype)
            np.log(table[1:], out=table[1:])
            table[1:] += dtype.type(1.0)
            data = table[counts]
        else:
            data = counts.astype(dtype)
        data *= self.idf_[cols]
        block_id = row_ids + (cols >= self.n_word_features_)
        sums = np.bincount(block_id, weights=(data * data).astype(np.float64), minlength=2 * n)
        return (data / np.sqrt(sums)[block_id]).astype(dtype)

    def _csr(self, data: np.ndarray, cols: np.ndarray, indptr: np.ndarray, n: int) -> sp.csr_matrix:
        matrix = sp.csr_matrix((data, cols, indptr), shape=(n, self.n_features_))
        matrix.has_sorted_indices = True
        return matrix

    def _assemble(
        self, n: int, rows: np.ndarray, cols: np.ndarray, local: np.ndarray, per_row: np.ndarray, raw: bool = False
    ) -> sp.csr_matrix:
        """CSR with sorted, summed indices from (row, col, slot in row) hits, then sklearn's weighting.

        Sorting all hits costs ~100 ns each (no SIMD for one long array); sorting each row inside a
        padded 2-D block uses numpy's SIMD small-array sort and is ~30x cheaper.
        """
        sentinel = np.iinfo(np.int32).max
        shift_of = np.maximum(4, np.ceil(np.log2(np.maximum(per_row, 1))).astype(np.int64))
        # one block for all ordinary rows (padded to the longest), one per power of two above 1024
        ordinary = shift_of <= 10
        shift_of[ordinary] = 10
        has_hits = per_row > 0
        groups = np.unique(shift_of[has_hits])
        uniq_per_row = np.zeros(n, dtype=np.int64)
        parts = []
        for shift in groups.tolist():
            members = np.flatnonzero(has_hits & (shift_of == shift)) if len(groups) > 1 else np.flatnonzero(has_hits)
            # the ordinary block is only as wide as its longest row (rounded up to 8)
            w = 1 << shift if shift > 10 else max(8, -(-int(per_row[members].max(initial=1)) // 8) * 8)
            slot = np.full(n, -1, dtype=np.int64)
            slot[members] = np.arange(len(members))
            block = np.full(len(members) * w, sentinel, dtype=np.int32)
            if len(groups) > 1:
                pick = np.flatnonzero(slot[rows] >= 0)
                block[slot[rows[pick]] * w + local[pick]] = cols[pick]
            else:
                block[slot[rows] * w + local] = cols
            block = block.reshape(len(members), w)
            block.sort(axis=1)
            flat = block.ravel()
            new = np.empty(len(flat), dtype=bool)
            new[0] = True
            np.not_equal(flat[1:], flat[:-1], out=new[1:])
            new[::w] = True  # a run never continues into the next row
            pos = np.flatnonzero(new)
            counts = np.diff(pos, append=len(flat))
            vals = flat[pos]
            real = vals != sentinel
            pos, vals, counts = pos[real], vals[real], counts[real]
            member_idx = pos // w
            per_member = np.bincount(member_idx, minlength=len(members))
            uniq_per_row[members] = per_member
            parts.append((members, vals, counts, member_idx, per_member))
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(uniq_per_row, out=indptr[1:])
        if len(parts) == 1:
            out_cols, out_counts = parts[0][1], parts[0][2]
        else:
            out_cols = np.empty(int(indptr[-1]), dtype=np.int32)
            out_counts = np.empty(int(indptr[-1]), dtype=np.int64)
            for members, vals, counts, member_idx, per_member in parts:
                first = np.cumsum(per_member) - per_member  # first entry of each member in this part
                dest = indptr[members[member_idx]] + np.arange(len(vals)) - first[member_idx]
                out_cols[dest], out_counts[dest] = vals, counts
        if raw:
            data = out_counts.astype(self.dtype)
        else:
            row_ids = np.repeat(np.arange(0, 2 * n, 2, dtype=np.int64), uniq_per_row)
            data = self._weights(out_counts, out_cols, row_ids, n)
        return self._csr(data, out_cols.astype(np.int32, copy=False), indptr.astype(np.int32), n)


def _pair_keys(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Key of the bigram "first second" from its two unigram keys."""
    with np.errstate(over="ignore"):
        return _mix(first * _PAIR_SALT + _mix(second)) | _U64(1)


def _word_term_keys(terms: list[str]) -> np.ndarray:
    """Keys of vocabulary terms ("tok" or "tok tok"), computed exactly as ``transform`` computes them."""
    parts = [t.split(" ") for t in terms]
    if any(len(p) > 2 for p in parts):
        raise ValueError("word n-grams longer than 2 are not supported")
    flat = [w for p in parts for w in p]
    lengths = np.fromiter(map(len, flat), dtype=np.int64, count=len(flat))
    stream = " " + " ".join(flat) + " "
    codes = code_points(stream)
    starts = 1 + np.concatenate([[0], np.cumsum(lengths + 1)[:-1]]) if len(flat) else np.zeros(0, np.int64)
    keys = _token_keys(codes, starts, starts + lengths, _powers(_POLY, len(codes))) if len(flat) else starts
    n_parts = np.fromiter(map(len, parts), dtype=np.int64, count=len(parts))
    first = np.concatenate([[0], np.cumsum(n_parts)[:-1]]).astype(np.int64)
    out = keys[first] if len(first) else np.zeros(0, dtype=_U64)
    pairs = np.flatnonzero(n_parts == 2)
    out[pairs] = _pair_keys(keys[first[pairs]], keys[first[pairs] + 1])
    return out
