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

_CURRENCY_PREFIX = re.compile(r"^(?:rs\.?|inr|usd|eur|gbp|[₹$€£])\s*", re.IGNORECASE)
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|[+-]?\.\d+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class InputSchemaError(ValueError):
    """Raised when the input cannot be scored at all (for example no ``title`` column)."""


def parse_number(values: pd.Series) -> pd.Series:
    """Parse numbers written the way real listings write them ("₹32,999", "2,255", " 4.2 ").

    Anything that is still not a number ("Get", "FREE Delivery", True) becomes NaN.
    """
    if pd.api.types.is_bool_dtype(values):
        return pd.Series(np.nan, index=values.index, dtype="float64")
    if pd.api.types.is_numeric_dtype(values):
        return values.astype("float64")
    return pd.Series([_parse_one(v) for v in values.to_numpy(dtype=object)], index=values.index, dtype="float64")


def _parse_one(value: object) -> float:
    """One number from a value; NaN unless it holds exactly one number ("1-2", "[1, 2]" -> NaN)."""
    if isinstance(value, bool) or value is None:
        return np.nan
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    if not isinstance(value, str):  # lists, dicts, bytes...: not a price
        return np.nan
    text = _CURRENCY_PREFIX.sub("", value.replace(",", "").strip())
    numbers = _NUMBER.findall(text)
    return float(numbers[0]) if len(numbers) == 1 else np.nan


def _clean_text(values: pd.Series | None, n: int) -> list[str | None]:
    """Strings with control characters removed and whitespace trimmed; missing/blank -> None."""
    if values is None:
        return [None] * n
    out: list[str | None] = []
    for v in values.to_numpy(dtype=object):
        if v is None or v is pd.NA or (isinstance(v, float) and v != v):
            out.append(None)
            continue
        text = _CONTROL.sub(" ", v if isinstance(v, str) else str(v)).strip()
        out.append(text or None)
    return out


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
        raise InputSchemaError(f"input is missing the required column '{TITLE}' (got columns: {list(raw.columns)})")
    n = len(raw)
    issues: list[list[str]] = [[] for _ in range(n)]
    columns: dict[str, object] = {}

    title = _clean_text(raw[TITLE], n)
    _flag(issues, [t is None for t in title], "title_empty")
    _flag(issues, [t is not None and len(t) > MAX_TITLE_CHARS for t in title], "title_truncated")
    columns[TITLE] = np.asarray([t[:MAX_TITLE_CHARS] if t else "" for t in title], dtype=object)

    for field in CATEGORICAL_FIELDS:
        columns[field] = np.asarray(_clean_text(raw[field] if field in raw.columns else None, n), dtype=object)

    for field in NUMERIC_FIELDS:
        if field not in raw.columns:
            columns[field] = np.full(n, np.nan)
            continue
        col = raw[field]
        values = parse_number(col).to_numpy(dtype="float64", copy=True)
        if col.dtype == object or pd.api.types.is_string_dtype(col):
            given = np.asarray(
                [
                    v is not None and not (isinstance(v, float) and v != v) and str(v).strip() != ""
                    for v in col.to_numpy(dtype=object)
                ],
                dtype=bool,
            )
            _flag(issues, given & np.isnan(values), f"{field}_unparseable")
        nonfinite = np.isinf(values)
        lo, hi = NUMERIC_RANGES[field]
        with np.errstate(invalid="ignore"):
            out_of_range = np.isfinite(values) & ((values < lo) | (values > hi))
        _flag(issues, nonfinite, f"{field}_not_finite")
        _flag(issues, out_of_range, f"{field}_out_of_range")
        values[nonfinite | out_of_range] = np.nan
        columns[field] = values
    return CleanInput(frame=pd.DataFrame(columns, index=pd.RangeIndex(n)), issues=issues)


def _flag(issues: list[list[str]], mask: np.ndarray | list[bool], reason: str) -> None:
    for i in np.flatnonzero(np.asarray(mask, dtype=bool)):
        issues[i].append(reason)
