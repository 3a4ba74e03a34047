"""Per-row out-of-distribution reasons: why one row should not be trusted to the primary."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.schema import RowFlags
from pyfunc_model.drift.reference import DriftReference
from pyfunc_model.drift.summary import CATEGORICAL, RowSummary, summarize

#: Reason names for unseen categorical values (``seller_id`` -> ``unseen_seller``).
UNSEEN_REASON = {"subcategory": "unseen_subcategory", "brand": "unseen_brand", "seller_id": "unseen_seller"}
#: Numeric fields whose absence is reported when training had them for most rows.
MISSING_FIELDS = ("subcategory", "brand", "seller_id", "price", "rating", "reviews_count")
#: A field counts as "relied on" when at least this share of training rows had it.
RELIED_ON_SHARE = 0.5


def _relied_on(reference: DriftReference, field: str) -> bool:
    if field in reference.categorical:
        return reference.categorical[field].present_share >= RELIED_ON_SHARE
    sketch = reference.numeric.get(field)
    return sketch is not None and 1.0 - sketch.missing_share >= RELIED_ON_SHARE


def ood_flags(
    prepared: pd.DataFrame, reference: DriftReference, summary: RowSummary | None = None
) -> dict[str, np.ndarray]:
    """Boolean mask per reason (vectorised); :func:`row_ood_reasons` turns it into lists."""
    s = summary if summary is not None else summarize(prepared, reference)
    cfg = reference.settings
    flags: dict[str, np.ndarray] = {}
    for field in CATEGORICAL:
        if reference.monitored(field):
            flags[UNSEEN_REASON[field]] = s.col(f"{field}_unseen") == 1.0
    lo, hi = reference.price_range
    factor = cfg["price_far_factor"]
    price = np.expm1(s.col("price"))
    with np.errstate(invalid="ignore"):
        flags["price_far_outside_training_range"] = np.isfinite(price) & ((price > hi * factor) | (price < lo / factor))
    tokens = s.col("title_tokens")
    with np.errstate(invalid="ignore"):
        garbled = (s.col("title_letter_share") < cfg["garbled_letter_share"]) | (
            (tokens >= 2) & (s.col("title_oov_rate") >= cfg["garbled_oov_rate"])
        )
    flags["title_empty_or_garbled"] = (tokens == 0) | garbled
    for field in MISSING_FIELDS:
        if not _relied_on(reference, field):
            continue
        col = s.col(f"{field}_bucket") if field in CATEGORICAL else s.col(field)
        flags[f"missing_{field}"] = np.isnan(col)
    return flags


def row_ood_reasons(
    prepared: pd.DataFrame, reference: DriftReference, summary: RowSummary | None = None
) -> list[list[str]]:
    """Per-row reasons: unseen_subcategory, unseen_brand, unseen_seller,
    price_far_outside_training_range, title_empty_or_garbled, missing_<field> (fields present in
    most training rows only: a field the model never saw cannot be missed)."""
    n = len(prepared) if summary is None else len(summary)
    return RowFlags(n).merged(ood_flags(prepared, reference, summary)).lists()


__all__ = ["ood_flags", "row_ood_reasons"]
