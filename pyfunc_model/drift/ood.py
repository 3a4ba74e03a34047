"""Per-row out-of-distribution reasons: why one row should not be trusted to the primary.

Reasons name something the caller can act on. A missing optional input is not one (the model
was trained with title-only copies of every row, so it answers such rows normally), and a brand
is reported as unseen only when the caller sent it: a brand the features derived from the
title's first word says nothing about the caller's data.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.pipeline import ProductFeatures
from features.schema import RowFlags
from features.text import as_strings
from pyfunc_model.drift.reference import DriftReference
from pyfunc_model.drift.specs import CATEGORICAL, RowSummary, summarize
from pyfunc_model.drift.summary import PreparedColumns

#: Reason names for unseen categorical values (``seller_id`` -> ``unseen_seller``).
UNSEEN_REASON = {"subcategory": "unseen_subcategory", "brand": "unseen_brand", "seller_id": "unseen_seller"}
#: Title reasons, most specific first; a row gets at most one of them.
TITLE_REASONS = ("title_empty", "title_foreign_script", "title_garbled", "title_no_known_words")
PRICE_FAR = "price_far_outside_training_range"
#: The summary columns :func:`ood_flags` reads.
REASON_INPUTS = frozenset(
    {
        *(f"{field}_unseen" for field in CATEGORICAL),
        "price",
        "title_tokens",
        "title_chars",
        "title_foreign_share",
        "title_letter_share",
        "title_oov_rate",
    }
)


def sent_mask(model_input: pd.DataFrame, field: str) -> np.ndarray:
    """Rows where the caller sent a non-blank value of ``field`` (before any derivation)."""
    if field not in model_input.columns:
        return np.zeros(len(model_input), dtype=bool)
    return np.fromiter((bool(v.strip()) for v in as_strings(model_input[field])), dtype=bool, count=len(model_input))


def ood_flags(
    prepared: PreparedColumns,
    reference: DriftReference,
    summary: RowSummary | None = None,
    sent: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Boolean mask per reason (vectorised).

    ``sent``: per categorical field, the rows where the caller sent the value (default: every
    present value counts as sent, as for a frame that was never derived).
    """
    s = summary if summary is not None else summarize(prepared, reference)
    cfg = reference.settings
    flags: dict[str, np.ndarray] = {}
    for field in CATEGORICAL:
        if reference.monitored(field):
            unseen = s.col(f"{field}_unseen") == 1.0
            if sent is not None and field in sent:
                unseen &= sent[field]
            flags[UNSEEN_REASON[field]] = unseen
    lo, hi = reference.price_range
    factor = cfg["price_far_factor"]
    price = np.expm1(s.col("price"))
    with np.errstate(invalid="ignore"):
        flags[PRICE_FAR] = np.isfinite(price) & ((price > hi * factor) | (price < lo / factor))
    tokens = s.col("title_tokens")
    with np.errstate(invalid="ignore"):
        empty = s.col("title_chars") == 0
        foreign = ~empty & (s.col("title_foreign_share") >= cfg["foreign_script_share"])
        garbled = ~empty & ~foreign & ((tokens == 0) | (s.col("title_letter_share") < cfg["garbled_letter_share"]))
        unknown = ~empty & ~foreign & ~garbled & (s.col("title_oov_rate") >= cfg["no_known_words_oov_rate"])
    for reason, mask in zip(TITLE_REASONS, (empty, foreign, garbled, unknown), strict=True):
        flags[reason] = mask
    return flags


def row_ood_reasons(model_input: pd.DataFrame, reference: DriftReference) -> list[list[str]]:
    """Per-row reasons for raw model input, as ``predict`` reports them: unseen_subcategory,
    unseen_brand (sent brands only), unseen_seller, price_far_outside_training_range, and at most
    one title reason of :data:`TITLE_REASONS`."""
    prepared = ProductFeatures.prepare(model_input)
    sent = {"brand": sent_mask(model_input, "brand")}
    return RowFlags(len(prepared)).merged(ood_flags(prepared, reference, sent=sent)).lists()


__all__ = ["PRICE_FAR", "REASON_INPUTS", "TITLE_REASONS", "UNSEEN_REASON", "ood_flags", "row_ood_reasons", "sent_mask"]
