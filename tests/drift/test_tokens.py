"""The drift summary tokenises small batches in Python and large ones in Arrow: same tokens."""

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
