"""A catalogue's own column names: ``--columns product_name=title,cat=category``.

Users train on files they did not write. Rather than asking them to rename columns first, the
training CLI takes a mapping from their names to the canonical ones; a mapping that names a
column the file lacks, or leaves a required column unmapped, fails before anything is trained,
naming the column.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from features.schema import INPUT_COLUMNS, LABEL

CANONICAL = (*INPUT_COLUMNS, LABEL)
REQUIRED = ("title", LABEL)


class ColumnMappingError(ValueError):
    """A ``--columns`` mapping that cannot be applied; the message names the column."""


def parse_columns(spec: str | None) -> dict[str, str]:
    """``"product_name=title,cat=category"`` -> ``{"product_name": "title", "cat": "category"}``."""
    mapping: dict[str, str] = {}
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        source, sep, target = part.partition("=")
        source, target = source.strip(), target.strip()
        if not sep or not source or not target:
            raise ColumnMappingError(f"--columns: {part.strip()!r} is not <file column>=<canonical column>")
        if target not in CANONICAL:
            raise ColumnMappingError(f"--columns: {target!r} (from {source!r}) is not one of {list(CANONICAL)}")
        if target in mapping.values():
            raise ColumnMappingError(f"--columns: two file columns are mapped to {target!r}")
        if source in mapping:
            raise ColumnMappingError(f"--columns: {source!r} is mapped twice")
        mapping[source] = target
    return mapping


def apply_columns(raw: pd.DataFrame, mapping: Mapping[str, str], source: str = "the data") -> pd.DataFrame:
    """``raw`` with its columns renamed to the canonical names; errors name what is missing."""
    if not mapping:
        return raw
    absent = [c for c in mapping if c not in raw.columns]
    if absent:
        raise ColumnMappingError(
            f"--columns maps {absent} but {source} has no such column (it has {list(raw.columns)})"
        )
    renamed = raw.drop(columns=[c for c in mapping.values() if c in raw.columns and c not in mapping])
    renamed = renamed.rename(columns=dict(mapping))
    unmapped = [c for c in REQUIRED if c not in renamed.columns]
    if unmapped:
        raise ColumnMappingError(
            f"{source}: required column(s) {unmapped} left unmapped; add <file column>={unmapped[0]} to --columns "
            f"(the file has {list(raw.columns)})"
        )
    return renamed


__all__ = ["CANONICAL", "REQUIRED", "ColumnMappingError", "apply_columns", "parse_columns"]
