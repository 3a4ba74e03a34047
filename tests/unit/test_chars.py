"""``features.chars`` must answer exactly what Python's ``str`` methods answer, for any text."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from features.chars import char_counts
from features.text import normalize_title

#: Any code point, lone surrogates included (they reach us from JSON with "\ud800").
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)


def python_counts(text: str) -> list[float]:
    tokens = sum(
        1
        for i, c in enumerate(text)
        if (c.isalnum() or c == "_") and not (i and (text[i - 1].isalnum() or text[i - 1] == "_"))
    )
    return [len(text), tokens, sum(map(str.isdigit, text)), sum(map(str.isupper, text))]


@settings(max_examples=300, deadline=None)
@given(st.lists(ANY_TEXT, max_size=8))
def test_char_counts_equal_python_per_character(texts: list[str]) -> None:
    expected = np.array([python_counts(t) for t in texts], dtype="float64").reshape(len(texts), 4)
    np.testing.assert_array_equal(char_counts(texts), expected)


def test_word_runs_are_the_tokens_of_normalize_title() -> None:
    texts = ["Samsung Galaxy M14 5G (Icy Silver, 6GB)", "  ", "", "कुर्ता-पायजामा सेट", "a_b c\x00d", "ÀÉ ß ǅ Ⅳ ²"]
    tokens = [len(t.split()) for t in normalize_title(texts)]
    np.testing.assert_array_equal(char_counts(texts)[:, 1], tokens)
