"""A number's precision: values sent with more decimals than nearly all of training's values had.

A catalogue's numbers sit on a grid: whole rupees, pence, ratings in tenths, whole review
counts. An upstream that converts a currency, adds a tax or a markup, or averages ratings moves
the values off that grid at once, often by far less than any test of the values' level can see
(prices x1.05: 499 becomes 523.95). The value is 1.0 for a row whose number needs more decimals
than :data:`COVERED` of training's values do, 0.0 for one on the grid, NaN where the field was not
sent; its test is the one-sided binomial excess of the share of off-grid rows, like the unseen
shares. A field whose training values have no grid within :data:`MAX_DECIMALS` decimals (prices
already converted) gets no state, so its test never runs.

Float noise is not a decimal: a value counts as having ``d`` decimals when ``value x 10**d`` is
within :data:`RELATIVE_TOLERANCE` of a whole number (a float32 round trip moves 499.99 by ~2e-8 of
its size).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pyfunc_model.drift.summary import RowContext

#: Decimals looked at; a value with more is off every grid considered.
MAX_DECIMALS = 4
#: Share of training's values the grid must hold (the rest are the catalogue's own odd values).
COVERED = 0.99
#: A value x 10**d within this share of its size from a whole number has at most d decimals.
RELATIVE_TOLERANCE = 2e-7


def decimals(values: np.ndarray) -> np.ndarray:
    """Decimals each finite value needs, 0 to ``MAX_DECIMALS + 1`` (more than looked at)."""
    out = np.full(values.size, MAX_DECIMALS + 1, dtype=np.int64)
    todo = np.ones(values.size, dtype=bool)
    for d in range(MAX_DECIMALS + 1):
        scaled = values[todo] * 10.0**d
        on_grid = np.abs(scaled - np.round(scaled)) <= RELATIVE_TOLERANCE * np.maximum(np.abs(scaled), 1.0)
        at = np.flatnonzero(todo)[on_grid]
        out[at] = d
        todo[at] = False
        if not todo.any():
            break
    return out


class ValuePrecision:
    """The precision signal of one numeric field (see the module docstring)."""

    kind = "share"
    #: Its test gets a quarter of a test's budget share: when it fires, every shifted row is off
    #: the grid, so it needs little of the budget, and the other tests keep theirs.
    weight = 0.25

    def __init__(self, field: str) -> None:
        self.field = field
        self.name = f"{field}_precision"

    def fit(self, ctx: RowContext) -> dict[str, Any]:
        values = ctx.number(self.field)
        values = values[np.isfinite(values)]
        if values.size == 0:
            return {}
        covered = np.cumsum(np.bincount(decimals(values), minlength=MAX_DECIMALS + 2)) / values.size
        grid = int(np.argmax(covered >= COVERED))
        return {"decimals": grid} if grid <= MAX_DECIMALS else {}

    def values(self, ctx: RowContext, state: dict[str, Any]) -> np.ndarray:
        out = np.full(ctx.n, np.nan)
        if "decimals" not in state:
            return out
        values = ctx.number(self.field)
        sent = np.isfinite(values)
        out[sent] = decimals(values[sent]) > int(state["decimals"])
        return out
