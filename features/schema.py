"""The input contract: column names, how raw values are coerced, and per-row input problems.

Serving and data loading both go through :func:`clean_input`, so a price written as
``"₹32,999"`` in a CSV and ``32999`` in a REST request reach the features as the same float.
Values that cannot be used become NaN and are reported per row (``issues``) instead of
raising: a bad optional field must not cost the whole batch its answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

TITLE = "title"
CATEGORICAL_FIELDS: tuple[str, ...] = ("seller_id", "brand", "subcategory")
NUMERIC_FIELDS: tuple[str, ...] = ("price", "rating", "reviews_count")
OPTIONAL_FIELDS: tuple[str, ...] = CATEGORICAL_FIELDS + NUMERIC_FIELDS
INPUT_COLUMNS: tuple[str, ...] = (TITLE,) + OPTIONAL_FIELDS
LABEL = "category"

#: Titles longer than this are cut before featurisation (real titles are <= 200 chars);
#: keeps a hostile 1 MB title from costing more than a normal one.
MAX_TITLE_CHARS = 512
#: Valid ranges; values outside become NaN with a per-row issue.
NUMERIC_RANGES: dict[str, tuple[float, float]] = {
    "price": (0.0, 1e12),
    "rating": (0.0, 5.0),
    "reviews_count": (0.0, 1e12),
}

_NUMBER_JUNK = re.compile(r"[^0-9.eE+\-]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class InputSchemaError(ValueError):
    """Raised when the input cannot be scored at all (for example no ``title`` column)."""


def parse_number(values: pd.Series) -> pd.Series:
    """Parse numbers written the way real listings write them ("₹32,999", "2,255", " 4.2 ").

    Anything that is still not a number ("Get", "FREE Delivery") becomes NaN.
    """
    if pd.api.types.is_bool_dtype(values):
        return pd.Series(np.nan, index=values.index, dtype="float64")
    if pd.api.types.is_numeric_dtype(values):
        return values.astype("float64")
    text = values.astype("string").str.replace(",", "", regex=False)
    text = text.str.replace(_NUMBER_JUNK, "", regex=True)
    return pd.to_numeric(text, errors="coerce").astype("float64")


def _clean_text(values: pd.Series) -> pd.Series:
    """Strings with control characters removed; missing and blank values become NA."""
    text = values.astype("string").str.replace(_CONTROL, " ", regex=True).str.strip()
    return text.mask(text == "")


@dataclass
class CleanInput:
    """Canonical, typed input plus the per-row problems found while coercing it."""

    frame: pd.DataFrame
    issues: list[list[str]]


def clean_input(raw: pd.DataFrame) -> CleanInput:
    """Coerce a raw frame to the canonical columns and dtypes, row order unchanged.

    Raises :class:`InputSchemaError` only when no row could be scored (no ``title`` column).
    Absent optional columns are filled with missing values; extra columns are ignored.
    """
    if not isinstance(raw, pd.DataFrame):
        raise InputSchemaError(f"expected a pandas DataFrame, got {type(raw).__name__}")
    if TITLE not in raw.columns:
        raise InputSchemaError(
            f"input is missing the required column '{TITLE}' (got columns: {list(raw.columns)})"
        )
    n = len(raw)
    issues: list[list[str]] = [[] for _ in range(n)]
    out = pd.DataFrame(index=pd.RangeIndex(n))

    title = _clean_text(raw[TITLE].reset_index(drop=True))
    too_long = title.str.len().fillna(0).to_numpy() > MAX_TITLE_CHARS
    title = title.str.slice(0, MAX_TITLE_CHARS)
    out[TITLE] = title.fillna("").astype(object)
    _flag(issues, title.isna().to_numpy(), "title_empty")
    _flag(issues, too_long, "title_truncated")

    for field in CATEGORICAL_FIELDS:
        col = raw[field].reset_index(drop=True) if field in raw.columns else None
        out[field] = _clean_text(col).astype(object) if col is not None else None
        out[field] = out[field].where(pd.notna(out[field]), None)

    for field in NUMERIC_FIELDS:
        if field not in raw.columns:
            out[field] = np.nan
            continue
        col = raw[field].reset_index(drop=True)
        parsed = parse_number(col)
        given = col.notna().to_numpy() & (col.astype("string").str.strip() != "").fillna(False).to_numpy()
        _flag(issues, given & parsed.isna().to_numpy(), f"{field}_unparseable")
        values = parsed.to_numpy(dtype="float64", copy=True)
        nonfinite = np.isinf(values)
        lo, hi = NUMERIC_RANGES[field]
        with np.errstate(invalid="ignore"):
            out_of_range = np.isfinite(values) & ((values < lo) | (values > hi))
        _flag(issues, nonfinite, f"{field}_not_finite")
        _flag(issues, out_of_range, f"{field}_out_of_range")
        values[nonfinite | out_of_range] = np.nan
        out[field] = values
    return CleanInput(frame=out, issues=issues)


def _flag(issues: list[list[str]], mask: np.ndarray, reason: str) -> None:
    for i in np.flatnonzero(mask):
        issues[i].append(reason)
