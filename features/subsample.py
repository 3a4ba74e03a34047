"""Title-grouped subsets for training stages whose cost grows faster than the rows (training only).

A few training stages (the title scorer's linear models, the drift reference's nearest-title
index, the title baselines) cost more than linearly in rows, or hold every row several times.
Past a cap they fit on a random subset of whole title groups: every row of a normalised title is
in or out together, so duplicated listings never straddle the subset and an out-of-fold score
stays out of fold. Which group is in is decided by a keyed hash of the group itself: the subset
is the same whatever the row order, and nested (a larger cap keeps every group a smaller one kept).
Below the cap nothing is drawn and every stage runs exactly as without one.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def group_hash(groups: np.ndarray, seed: int) -> np.ndarray:
    """A uint64 per value of ``groups`` (normalised titles), fixed for a seed in every process."""
    key = f"{seed:016d}"[-16:]  # pandas' hash key is 16 characters
    return pd.util.hash_array(np.asarray(groups, dtype=object), hash_key=key, categorize=True)


def capped_groups(groups: np.ndarray, cap: int | None, seed: int) -> np.ndarray | None:
    """Mask of the rows kept when at most ``cap`` rows may be used, or None when all fit.

    Whole groups are kept, those with the smallest keyed hashes: at most ``cap`` rows, and all
    of them when the rows are ``cap`` or fewer (None: nothing to draw).
    """
    n = len(groups)
    if cap is None or n <= cap:
        return None
    if cap < 1:
        raise ValueError(f"the row cap must be at least 1, got {cap}")
    h = group_hash(groups, seed)
    cut = np.partition(h, cap)[cap]  # the (cap+1)-th smallest hash: its group and larger ones stay out
    return h < cut


def group_fold(groups: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """A fold in ``0..n_folds-1`` per row, the same for every row of a group."""
    return (group_hash(groups, seed + 1) % np.uint64(n_folds)).astype(np.int64)
