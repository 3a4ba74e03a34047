"""Review count given the price band: how much attention a listing gets for what it costs.

Cheap listings collect more reviews than dear ones; a feed that suddenly sends review counts of
another scale (a new source counting differently, reviews x100) or prices that no longer fit their
reviews shows here with the price band's own spread. The value is log1p(reviews) standardised
within the row's price band (training's log-price quintiles; median and 1.4826 x MAD per band);
rows without a price or a review count are NaN.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pyfunc_model.drift.summary import RowContext

BANDS = 5
MIN_SPREAD = 0.05


class ReviewsGivenPriceBand:
    name = "reviews_given_price_band"
    field = "reviews_count"
    kind = "numeric"
    weight = 1.0

    def fit(self, ctx: RowContext) -> dict[str, Any]:
        price, reviews = ctx.log1p("price"), ctx.log1p("reviews_count")
        ok = np.isfinite(price) & np.isfinite(reviews)
        if ok.sum() < BANDS * 10:
            return {"edges": [], "center": [], "spread": []}
        edges = np.unique(np.quantile(price[ok], np.linspace(0, 1, BANDS + 1)[1:-1]))
        band = np.searchsorted(edges, price[ok], side="right")
        center, spread = [], []
        for b in range(edges.size + 1):
            r = reviews[ok][band == b]
            med = float(np.median(r)) if r.size else 0.0
            center.append(med)
            spread.append(max(float(1.4826 * np.median(np.abs(r - med))) if r.size else 1.0, MIN_SPREAD))
        return {"edges": edges.tolist(), "center": center, "spread": spread}

    def values(self, ctx: RowContext, state: dict[str, Any]) -> np.ndarray:
        out = np.full(ctx.n, np.nan)
        if not state["center"]:
            return out
        price, reviews = ctx.log1p("price"), ctx.log1p("reviews_count")
        ok = np.isfinite(price) & np.isfinite(reviews)
        band = np.searchsorted(np.asarray(state["edges"], dtype="float64"), price[ok], side="right")
        out[ok] = (reviews[ok] - np.asarray(state["center"])[band]) / np.asarray(state["spread"])[band]
        return out
