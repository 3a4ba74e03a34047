"""The drift summary tokenises one or two titles one by one, small batches in Python and large ones
in Arrow: the same tokens, counts and CSR layout on every path."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pyfunc_model.drift import summary

#: Every code point Python's ``str.split()`` treats as whitespace.
WHITESPACE = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF and chr(c).isspace()]
TITLES = [
    "Samsung Galaxy M14 5G (Icy Silver, 6GB, 128GB Storage) | 50MP Triple Cam",
    "  leading and trailing  ",
    "",
    ":",
    "₹1,299 — offer • limited…",
    "कुर्ता-पायजामा सेट for men",
    "Damen Jacke größe XL",
    "emoji 😀 and\u200bzero width",
    *[f"a{ws}b{ws}{ws}c" for ws in WHITESPACE],
]


def tokens_per_row(rows: np.ndarray, codes: np.ndarray, uniques: list[str], n: int) -> list[list[str]]:
    out: list[list[str]] = [[] for _ in range(n)]
    for r, c in zip(rows.tolist(), codes.tolist(), strict=True):
        out[r].append(uniques[c])
    return out


def test_python_and_arrow_split_agree() -> None:
    assert len(WHITESPACE) == 29
    rows = summary._normalised_rows(pd.Series(TITLES, dtype=object))
    for start in range(0, len(rows), 8):
        chunk = rows[start : start + 8]
        small = summary._split_tokens(chunk)
        padded = chunk + [""] * (summary._PYTHON_SPLIT_ROWS + 1 - len(chunk))  # forces the Arrow path
        large = summary._split_tokens(padded)
        assert tokens_per_row(*small, len(chunk)) == tokens_per_row(*large, len(padded))[: len(chunk)]
        assert tokens_per_row(*small, len(chunk)) == [r.split() for r in chunk]


def test_one_by_one_and_array_counts_agree(monkeypatch) -> None:
    titles = [*TITLES, "a a a b", "12 34 5", "x\x00y", "Tab\tand  double  space 2 2"]
    pairs = [titles[i : i + 2] for i in range(len(titles) - 1)] + [[t] for t in titles]
    direct = [summary.title_tokens(p) for p in pairs]
    monkeypatch.setattr(summary, "_ONE_BY_ONE_ROWS", 0)
    for p, (tokens, letters) in zip(pairs, direct, strict=True):
        want, want_letters = summary.title_tokens(p)
        for got, expected in ((tokens.indptr, want.indptr), (tokens.indices, want.indices), (tokens.data, want.data)):
            assert got.dtype == expected.dtype
            np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(letters, want_letters)
    repeated = summary.title_tokens(["a a a b"])[0]
    assert sorted(repeated.data.tolist()) == [1.0, 3.0]
