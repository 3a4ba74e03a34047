"""One input preparation for features, drift and routing.

``predict`` cleans its input once (:func:`features.schema.clean_columns`) and derives the brand
once; the feature blocks read the resulting numpy columns directly. Readers that want pandas
(the drift summary, the rules fallback) get one DataFrame over the same arrays, built the first
time it is asked for and shared: for a 1-row request, building and indexing pandas objects
costs more than tokenising, hashing and scoring the row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.schema import TITLE, RowFlags, clean_columns, columns_frame
from features.text import derive_brand_values


@dataclass
class PreparedInput:
    """Canonical columns (object strings with None, float64 numbers), the per-row input flags."""

    columns: dict[str, np.ndarray]
    flags: RowFlags
    _frame: pd.DataFrame | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.columns[TITLE])

    @property
    def frame(self) -> pd.DataFrame:
        """The same columns as a DataFrame (zero-copy), built once on first use."""
        if self._frame is None:
            self._frame = columns_frame(self.columns)
        return self._frame


def prepare_input(raw: pd.DataFrame) -> PreparedInput:
    """Clean ``raw`` (see :func:`features.schema.clean_input`) and derive the brand from the title where missing."""
    columns, flags = clean_columns(raw)
    columns["brand"] = derive_brand_values(columns[TITLE], columns["brand"])
    return PreparedInput(columns, flags)


def n_rows(frame: pd.DataFrame | dict[str, np.ndarray]) -> int:
    """Rows of a DataFrame or of a dict of equal-length columns (``len(dict)`` counts columns)."""
    return len(frame) if isinstance(frame, pd.DataFrame) else len(frame[TITLE])
