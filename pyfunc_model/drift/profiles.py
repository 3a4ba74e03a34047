"""Input profiles: which optional fields a row sends is completeness, not a distribution shift.

A row without a sub-category is decided by its title and is less sure of itself than a full row;
comparing its confidence with full rows' would call every title-only client drifted. So the
concept tests and the accuracy estimate compare each row with the reference rows of its own
profile: training's title-only copies of its validation rows give the ``title_only`` profile.
When the training data had no sub-category at all, every row is of the one profile it knows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pyfunc_model.drift.specs import COL

if TYPE_CHECKING:
    from pyfunc_model.drift.reference import ConfidenceRef, DriftReference

FULL = "full"
TITLE_ONLY = "title_only"
#: The field whose absence moves a row to the title-only profile.
PROFILE_FIELD = "subcategory"


def profile_masks(ref: DriftReference, table: np.ndarray) -> list[tuple[str, ConfidenceRef, np.ndarray]]:
    """(profile, its confidence reference, its rows) for each profile present in ``table``.

    Rows of a profile the reference has no confidence for (an artifact built before profiles
    existed) are left out of the concept tests rather than judged against full rows."""
    if not ref.monitored(PROFILE_FIELD):
        return [(FULL, ref.confidence, np.ones(table.shape[0], dtype=bool))]
    lacking = table[:, COL[f"{PROFILE_FIELD}_missing"]] == 1.0
    out = [(FULL, ref.confidence, ~lacking)]
    title_only = ref.confidence_profiles.get(TITLE_ONLY)
    if title_only is not None:
        out.append((TITLE_ONLY, title_only, lacking))
    return [(name, cref, mask) for name, cref, mask in out if mask.any()]


__all__ = ["FULL", "PROFILE_FIELD", "TITLE_ONLY", "profile_masks"]
