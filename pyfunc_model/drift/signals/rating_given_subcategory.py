"""Rating given the sub-category: a row's rating against what its sub-category's listings get.

Ratings differ by sub-category (books rate higher than phone cases), so a shift inside
sub-categories can hide in the pooled rating distribution, and a change of category mix can move
it without any listing being rated differently. The value is the rating's z-score within its
sub-category (training mean and spread of each sub-category bucket with enough rated rows); rows
without a rating, without a sub-category, or of a sub-category training saw too little of are NaN.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pyfunc_model.drift.summary import RowContext

#: Rated training rows a sub-category needs before its own mean and spread are used.
MIN_ROWS = 10
#: Floor of a sub-category's rating spread (a sub-category whose listings all rate 4.5 is not
#: infinitely sure).
MIN_SPREAD = 0.1


class RatingGivenSubcategory:
    name = "rating_given_subcategory"
    field = "rating"
    kind = "numeric"
    weight = 1.0

    def fit(self, ctx: RowContext) -> dict[str, Any]:
        rating, sub = ctx.number("rating"), ctx.bucket("subcategory")
        ok = np.isfinite(rating) & np.isfinite(sub)
        keys, inverse, counts = np.unique(sub[ok], return_inverse=True, return_counts=True)
        total = np.bincount(inverse, weights=rating[ok], minlength=keys.size)
        squares = np.bincount(inverse, weights=rating[ok] ** 2, minlength=keys.size)
        mean = total / np.maximum(counts, 1)
        spread = np.sqrt(np.maximum(squares / np.maximum(counts, 1) - mean**2, 0.0))
        kept = counts >= MIN_ROWS
        return {
            "buckets": keys[kept].tolist(),
            "mean": mean[kept].tolist(),
            "spread": np.maximum(spread[kept], MIN_SPREAD).tolist(),
        }

    def values(self, ctx: RowContext, state: dict[str, Any]) -> np.ndarray:
        keys = np.asarray(state["buckets"], dtype="float64")
        out = np.full(ctx.n, np.nan)
        if keys.size == 0:
            return out
        rating, sub = ctx.number("rating"), ctx.bucket("subcategory")
        pos = np.clip(np.searchsorted(keys, sub), 0, keys.size - 1)
        known = np.isfinite(rating) & np.isfinite(sub) & (keys[pos] == sub)
        mean, spread = np.asarray(state["mean"]), np.asarray(state["spread"])
        out[known] = (rating[known] - mean[pos[known]]) / spread[pos[known]]
        return out
