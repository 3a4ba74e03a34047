"""Title normalisation and brand derivation, vectorised over pandas string methods."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)
_LEADING_JUNK = re.compile(r"^[^\w]+", re.UNICODE)


def normalize_title(titles: pd.Series) -> pd.Series:
    """Lower-case, punctuation to spaces, single spaces: the form every text feature sees."""
    text = titles.fillna("").astype(str).str.lower()
    return text.str.replace(_NON_WORD, " ", regex=True).str.strip()


def derive_brand(titles: pd.Series, brands: pd.Series | None = None) -> pd.Series:
    """The given brand where present, else the title's first word (the brand in real listings).

    Returned lower-cased so "LG" and "lg" are one brand.
    """
    first = titles.fillna("").astype(str).str.replace(_LEADING_JUNK, "", regex=True)
    first = first.str.split(n=1).str[0].str.lower()
    first = first.where(first.notna() & (first != ""), None)
    if brands is None:
        return first
    given = brands.astype("string").str.lower().str.strip()
    has = given.notna().to_numpy() & (given.fillna("") != "").to_numpy()
    return pd.Series(np.where(has, given.astype(object), first.astype(object)), index=titles.index)
