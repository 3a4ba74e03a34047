"""Signals that fit something of their own in training: one file each.

A fitted signal owns everything about itself: what it learns from the training rows (``fit``,
training only), its stored state (plain JSON: lists and numbers, kept in the reference's ``fitted``
mapping under the signal's name), its per-row value (``values``, serving and training alike) and
its test, by its ``kind`` (``numeric``: rank and KS against the reference sketch of its out-of-fold
values; ``share``, a 0/1 value: the binomial excess of its share), calibrated like every other
test. Adding one is adding a file here and a line to :data:`FITTED_SIGNALS`; the reference builder,
the checks, the report and the row reasons loop over signals. An artifact built before a signal
existed has no state for it: its value is NaN there and its test is skipped.

``price_given_title.py`` is the same in one respect more: its model (ridge, neighbour index,
spreads) serves two signals (``price_residual`` and ``price_residual_title``), so its state is
the reference's own ``price_model`` entry and its values are declared in ``specs``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from pyfunc_model.drift.signals.rating_given_subcategory import RatingGivenSubcategory
from pyfunc_model.drift.signals.reviews_given_price_band import ReviewsGivenPriceBand
from pyfunc_model.drift.signals.value_precision import ValuePrecision

if TYPE_CHECKING:
    from pyfunc_model.drift.summary import RowContext


class FittedSignal(Protocol):
    """What :data:`FITTED_SIGNALS` holds (see the module docstring)."""

    name: str
    field: str
    kind: str
    weight: float

    def fit(self, ctx: RowContext) -> dict[str, Any]:
        """State learned from the training rows of ``ctx`` (JSON-ready)."""
        ...

    def values(self, ctx: RowContext, state: dict[str, Any]) -> np.ndarray:
        """One float per row of ``ctx`` (NaN where the signal does not apply)."""
        ...


FITTED_SIGNALS: tuple[FittedSignal, ...] = (
    RatingGivenSubcategory(),
    ReviewsGivenPriceBand(),
    *(ValuePrecision(field) for field in ("price", "rating", "reviews_count")),
)

__all__ = ["FITTED_SIGNALS", "FittedSignal"]
