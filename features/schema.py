"""The input contract: column names, how raw values are coerced, and per-row input problems.

Serving and data loading both go through :func:`clean_input`, so a price written as
``"₹32,999"`` in a CSV and ``32999`` in a REST request reach the features as the same float.
Values that cannot be used become NaN and are reported per row (``issues``) instead of
raising: a bad optional field must not cost the whole batch its answer.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from features.frames import array_frame
from features.text import is_missing

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
#: Lone surrogates (a JSON body may carry "\ud800"): not text, and every encoder downstream (UTF-8,
#: Arrow, hashing) refuses them; each becomes U+FFFD, as a UTF-8 decoder with errors="replace" does.
_SURROGATE = re.compile("[\ud800-\udfff]")
#: Either of the two: what marks a value :func:`_clean_chars` would change.
_DIRTY = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
#: Joins a column's strings for one regex pass; a non-character, so real text never has it.
_ROW_SEP = "\uffff"


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


def _number_values(col: pd.Series) -> np.ndarray:
    """:func:`parse_number` as a new float64 array, without a Series per step for plain numpy dtypes."""
    kind = col.dtype.kind if isinstance(col.dtype, np.dtype) else ""
    if kind == "b":
        return np.full(len(col), np.nan)
    if kind in ("i", "u", "f"):
        return col.to_numpy(dtype="float64", copy=True)
    if kind == "O":
        return np.fromiter(map(_parse_one, col.to_numpy()), dtype="float64", count=len(col))
    return parse_number(col).to_numpy(dtype="float64", copy=True)


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
    if values.dtype.kind == "f" and np.isnan(values.to_numpy("float64", na_value=np.nan)).all():  # sent empty
        return [None] * n
    arr = values.to_numpy(dtype=object)
    if all(v is None for v in arr):  # an optional column sent empty (None)
        return [None] * n
    if all(type(v) is str for v in arr):  # the common case: every value a string
        return [t.strip() or None for t in _clean_strings(arr.tolist())]
    texts = [v if type(v) is str else (None if is_missing(v) else str(v)) for v in arr]
    cleaned = iter(_clean_strings([t for t in texts if t is not None]))
    return [None if t is None else (next(cleaned).strip() or None) for t in texts]


def _clean_strings(texts: list[str]) -> list[str]:
    """:func:`_clean_chars` of each string, found in one regex pass over the joined strings: real
    text rarely has a control character, and cleaning only the strings that do costs a fifth of
    cleaning the whole column (10,000 real titles with five control characters among them)."""
    joined = _ROW_SEP.join(texts)
    if joined.count(_ROW_SEP) != len(texts) - 1:  # a value holds the separator itself
        return [_clean_chars(t) for t in texts]
    dirty = [m.start() for m in _DIRTY.finditer(joined)]
    if not dirty:
        return texts
    ends = np.cumsum([len(t) + 1 for t in texts])  # each string's end, its separator counted
    out = list(texts)
    for i in set(np.searchsorted(ends, dirty, side="right").tolist()):
        out[i] = _clean_chars(out[i])
    return out


def _clean_chars(text: str) -> str:
    """Control characters as spaces, lone surrogates as U+FFFD; ``text`` itself when it has neither."""
    if _SURROGATE.search(text):
        text = _SURROGATE.sub("\ufffd", text)
    return _CONTROL.sub(" ", text) if _CONTROL.search(text) else text


@dataclass
class RowFlags:
    """Per-row reasons kept as one boolean mask per reason, in the order they were raised.

    Masks instead of a list per row: 100k rows with no problem cost nothing to build, merge
    and route on; strings are made only for the rows that have a reason.
    """

    n: int
    masks: dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    def add(self, reason: str, mask: np.ndarray | list[bool]) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            self.masks[reason] = self.masks[reason] | mask if reason in self.masks else mask

    def merged(self, other: RowFlags | dict[str, np.ndarray]) -> RowFlags:
        """These reasons, then ``other``'s (a row keeps its reasons in that order)."""
        out = RowFlags(self.n, dict(self.masks))
        for reason, mask in (other.masks if isinstance(other, RowFlags) else other).items():
            out.add(reason, mask)
        return out

    def _patterns(self) -> tuple[list[tuple[str, ...]], np.ndarray]:
        """(distinct reason combinations, each row's combination index): rows share few combinations."""
        names = list(self.masks)
        code = np.zeros(self.n, dtype=np.int64)
        for bit, name in enumerate(names[:62]):
            code |= self.masks[name].astype(np.int64) << bit
        if len(names) > 62:  # more reasons than bits: one combination per row
            code = np.arange(self.n)
        uniq, inverse = np.unique(code, return_inverse=True)
        first = np.zeros(len(uniq), dtype=np.int64)
        first[inverse[::-1]] = np.arange(self.n)[::-1]
        combos = [tuple(name for name in names if self.masks[name][i]) for i in first.tolist()]
        return combos, inverse.ravel()

    def lists(self) -> list[list[str]]:
        """The reasons of each row, as a list per row."""
        if self.n == 0:
            return []
        combos, inverse = self._patterns()
        return [list(combos[i]) for i in inverse.tolist()]

    def joined(self, sep: str = ";") -> np.ndarray:
        """The reasons of each row joined by ``sep`` ("" for a row without any), object array."""
        if self.n == 0:
            return np.zeros(0, dtype=object)
        combos, inverse = self._patterns()
        return np.asarray([sep.join(c) for c in combos], dtype=object)[inverse]


@dataclass
class CleanInput:
    """Canonical, typed input plus the per-row problems found while coercing it."""

    frame: pd.DataFrame
    flags: RowFlags

    @property
    def issues(self) -> list[list[str]]:
        """The problems of each row, as a list per row."""
        return self.flags.lists()


def clean_input(raw: pd.DataFrame) -> CleanInput:
    """Coerce a raw frame to the canonical columns and dtypes, row order unchanged.

    Raises :class:`InputSchemaError` only when no row could be scored (no ``title`` column).
    Absent optional columns are filled with missing values; extra columns are ignored.
    """
    columns, flags = clean_columns(raw)
    return CleanInput(frame=columns_frame(columns), flags=flags)


def columns_frame(columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """The canonical columns as a DataFrame (object strings, float64 numbers), zero-copy."""
    return array_frame(list(columns), list(columns.values()))


def clean_columns(raw: pd.DataFrame) -> tuple[dict[str, np.ndarray], RowFlags]:
    """:func:`clean_input` as plain numpy columns (object strings with None, float64 numbers) and flags.

    Serving reads these arrays directly: a DataFrame of a few rows costs more to build and index
    than the features cost to compute.
    """
    if not isinstance(raw, pd.DataFrame):
        raise InputSchemaError(f"expected a pandas DataFrame, got {type(raw).__name__}")
    if TITLE not in raw.columns:
        raise InputSchemaError(f"input is missing the required column '{TITLE}' (got columns: {list(raw.columns)})")
    n = len(raw)
    flags = RowFlags(n)
    columns: dict[str, np.ndarray] = {}

    title = _clean_text(raw[TITLE], n)
    flags.add("title_empty", [t is None for t in title])
    flags.add("title_truncated", [t is not None and len(t) > MAX_TITLE_CHARS for t in title])
    columns[TITLE] = np.asarray([t[:MAX_TITLE_CHARS] if t else "" for t in title], dtype=object)

    present = set(raw.columns)
    for field in CATEGORICAL_FIELDS:
        columns[field] = np.asarray(_clean_text(raw[field] if field in present else None, n), dtype=object)

    for field in NUMERIC_FIELDS:
        if field not in present:
            columns[field] = np.full(n, np.nan)
            continue
        col = raw[field]
        values = _number_values(col)
        if col.dtype == object or pd.api.types.is_string_dtype(col):
            given = np.asarray(
                [
                    v is not None and not (isinstance(v, float) and v != v) and str(v).strip() != ""
                    for v in col.to_numpy(dtype=object)
                ],
                dtype=bool,
            )
            flags.add(f"{field}_unparseable", given & np.isnan(values))
        nonfinite = np.isinf(values)
        lo, hi = NUMERIC_RANGES[field]
        with np.errstate(invalid="ignore"):
            out_of_range = np.isfinite(values) & ((values < lo) | (values > hi))
        flags.add(f"{field}_not_finite", nonfinite)
        flags.add(f"{field}_out_of_range", out_of_range)
        values[nonfinite | out_of_range] = np.nan
        columns[field] = values
    return columns, flags
