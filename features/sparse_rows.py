"""Row gathering on CSR arrays with plain numpy: for the few rows of a request, scipy's indexing
machinery costs more than the arithmetic."""

from __future__ import annotations

import numpy as np


def concat_ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(start, start + length)`` for each pair, without a Python loop."""
    return np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(int(lengths.sum()))


def row_positions(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(positions in the CSR ``indices``/``data`` of the listed rows' entries, entries per row);
    rows may repeat."""
    starts = indptr[rows]
    lengths = indptr[rows + 1] - starts
    return concat_ranges(starts, lengths), lengths
