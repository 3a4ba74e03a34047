"""Title normalisation and brand derivation.

Plain list comprehensions with compiled regexes: on object columns pandas' ``.str`` methods
loop in Python anyway and add ~50 µs of fixed cost per call, which dominates single-row
serving latency.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)
#: "(Renewed) USHA fan" -> skip the bracketed prefix; the brand is USHA.
_BRACKETED_PREFIX = re.compile(r"^\s*(?:[\(\[][^\)\]]*[\)\]]\s*)+")
_FIRST_WORD = re.compile(r"\w[\w&'.+-]*", re.UNICODE)


def is_missing(value: object) -> bool:
    """None, pandas NA or a float NaN: a value the features treat as absent."""
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def as_strings(values: pd.Series | np.ndarray | list) -> list[str]:
    """Each value as a string; missing values (None, NaN, NA) as ""."""
    arr = values.to_numpy(dtype=object) if isinstance(values, pd.Series) else np.asarray(values, dtype=object)
    return [v if isinstance(v, str) else ("" if v is None or v is pd.NA or v != v else str(v)) for v in arr]


def distinct(values: list[str]) -> tuple[list[str], np.ndarray | None]:
    """(distinct values in first-seen order, positions to expand them back) or (values, None).

    Batches repeat titles (one product, many sellers); text features are computed once per
    distinct title. Not worth it below 17 values or when under 10 % would be saved.
    """
    n = len(values)
    if n <= 16:
        return values, None
    first: dict[str, int] = {}
    inverse = np.fromiter((first.setdefault(v, len(first)) for v in values), dtype=np.int64, count=n)
    return (list(first), inverse) if len(first) < 0.9 * n else (values, None)


def normalize_title(titles: pd.Series | np.ndarray | list) -> pd.Series:
    """Lower-case, punctuation to spaces, single spaces: the form every text feature sees."""
    index = titles.index if isinstance(titles, pd.Series) else None
    out = [_NON_WORD.sub(" ", t.lower()).strip() for t in as_strings(titles)]
    return pd.Series(out, index=index, dtype=object)


def title_groups(titles: pd.Series | np.ndarray | list) -> np.ndarray:
    """Each title's group (its normalised form) as an integer, numbered in sorted order.

    Folds split on these codes are the folds split on the normalised strings themselves (same
    sorted order of groups), but a shuffled ``GroupKFold`` then compares integers, not strings,
    in each fold (about 70 ms per split on 17,000 titles)."""
    return np.unique(normalize_title(titles).to_numpy(dtype=str), return_inverse=True)[1].ravel()


def _first_word(title: str) -> str | None:
    unbracketed = _BRACKETED_PREFIX.sub("", title) if title.lstrip()[:1] in ("(", "[") else title
    match = _FIRST_WORD.search(unbracketed) or _FIRST_WORD.search(title)
    return match.group(0).lower() if match else None


def derive_brand(titles: pd.Series, brands: pd.Series | None = None) -> pd.Series:
    """The given brand where present, else the title's first word (the brand in real listings).

    Lower-cased so "LG" and "lg" are one brand; None when neither is available.
    """
    values = derive_brand_values(titles.to_numpy(dtype=object), None if brands is None else as_strings(brands))
    return pd.Series(values, index=titles.index, dtype=object)


def derive_brand_values(titles: np.ndarray | list, brands: np.ndarray | list | None = None) -> np.ndarray:
    """:func:`derive_brand` on plain arrays (object array out): what serving calls, no Series built."""
    given = as_strings(brands) if brands is not None else [""] * len(titles)
    out: list[str | None] = [b.strip().lower() for b in given]
    missing = [i for i, b in enumerate(out) if not b]
    if missing:  # only rows without a brand need their title
        title_of = np.asarray(titles, dtype=object)
        for i, t in zip(missing, as_strings(title_of[missing]), strict=True):
            out[i] = _first_word(t)
    return np.asarray(out, dtype=object)
