"""Input profiles: which optional fields a row sends is completeness, not a distribution shift.

A row without a sub-category is decided by its title and is less sure of itself than a full row;
comparing its confidence with full rows' would call every title-only client drifted. So the
concept tests and the accuracy estimate compare each row with the reference rows of its own
profile: training's title-only copies of its validation rows give the ``title_only`` profile.
When the training data had no sub-category at all, every row is of the one profile it knows.

The brand is another case: where a client sends none, the model derives one from the title. When
the training catalogue had brands of its own, a derived brand is not the same field (a title's
first word is often no brand at all), so the drift signals read it as not sent
(:func:`drift_view`); when training derived every brand too, derived brands are compared as such.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pyfunc_model.drift.specs import COL

if TYPE_CHECKING:
    from pyfunc_model.drift.reference import ConfidenceRef, DriftReference
    from pyfunc_model.drift.summary import PreparedColumns

FULL = "full"
TITLE_ONLY = "title_only"
#: The field whose absence moves a row to the title-only profile.
PROFILE_FIELD = "subcategory"
#: ``DriftReference.settings`` key: 1.0 when the reference's brands are the training data's own
#: (0.0: derived from titles, as in catalogues without a brand column, and in older artifacts).
BRAND_AS_SENT = "brand_as_sent"


def drift_view(columns: PreparedColumns, ref: DriftReference, brand_sent: np.ndarray | None) -> PreparedColumns:
    """The prepared columns as the drift signals read them: brands the client did not send are
    left out when the reference's brands were sent ones (see the module docstring)."""
    if brand_sent is None or not ref.settings.get(BRAND_AS_SENT) or bool(np.all(brand_sent)):
        return columns
    brand = np.asarray(columns["brand"], dtype=object).copy()
    brand[~np.asarray(brand_sent, dtype=bool)] = None
    if isinstance(columns, pd.DataFrame):
        return columns.assign(brand=brand)
    return {**columns, "brand": brand}


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


__all__ = ["BRAND_AS_SENT", "FULL", "PROFILE_FIELD", "TITLE_ONLY", "drift_view", "profile_masks"]
