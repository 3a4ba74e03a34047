"""One test per declared signal: moving its input moves its value, and its own test flags."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from features.pipeline import ProductFeatures
from pyfunc_model.drift import SIGNALS, DriftMonitor, DriftReference, summarize
from tests.drift.conftest import make_products

Shift = Callable[[pd.DataFrame, np.random.Generator], pd.DataFrame]


def _share(col: str, value: object) -> Shift:
    def shift(raw: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        hit = rng.random(len(raw)) < 0.5
        return raw.assign(**{col: np.where(hit, value if value is not None else None, raw[col]).tolist()})

    return shift


def _novel(rng: np.random.Generator, k: int) -> list[str]:
    return [f"qz{rng.integers(1e9)}" for _ in range(k)]


#: signal -> (shift of the raw rows, whether its value should go up)
SHIFTS: dict[str, tuple[Shift, bool]] = {
    "price": (lambda r, g: r.assign(price=r["price"] * 3), True),
    "price_residual": (lambda r, g: r.assign(price=r["price"] * 3), True),
    "price_residual_title": (lambda r, g: r.assign(price=r["price"] * 3), True),
    "rating": (lambda r, g: r.assign(rating=r["rating"] - 1.0), False),
    "reviews_count": (lambda r, g: r.assign(reviews_count=r["reviews_count"] * 20 + 1000), True),
    "title_chars": (lambda r, g: r.assign(title=r["title"] + " " + r["title"]), True),
    "title_oov_rate": (lambda r, g: r.assign(title=[f"{t} {' '.join(_novel(g, 4))}" for t in r["title"]]), True),
    "title_tokens": (lambda r, g: r.assign(title=[" ".join(_novel(g, 9)) for _ in r["title"]]), True),
    "price_missing": (_share("price", np.nan), True),
    "rating_missing": (_share("rating", np.nan), True),
    "reviews_count_missing": (_share("reviews_count", np.nan), True),
    "subcategory": (lambda r, g: r.assign(subcategory="Headphones"), True),
    "brand": (lambda r, g: r.assign(brand="brand1"), True),
    "subcategory_missing": (_share("subcategory", None), True),
    "subcategory_unseen": (lambda r, g: r.assign(subcategory=_novel(g, len(r))), True),
    "brand_unseen": (lambda r, g: r.assign(brand=_novel(g, len(r))), True),
    "title_letter_share": (lambda r, g: r.assign(title="#### 1234 !!!! 5678"), False),
    "title_foreign_share": (lambda r, g: r.assign(title="वायरलेस ईयरबड्स बास"), True),
    "rating_given_subcategory": (lambda r, g: r.assign(rating=r["rating"] - 1.0), False),
    "reviews_given_price_band": (lambda r, g: r.assign(reviews_count=r["reviews_count"] * 20 + 1000), True),
    # off the training grid (whole prices, ratings in tenths, whole counts) by less than a level test sees
    "price_precision": (lambda r, g: r.assign(price=r["price"] * 1.05), True),
    "rating_precision": (lambda r, g: r.assign(rating=r["rating"] - 0.05), True),
    "reviews_count_precision": (lambda r, g: r.assign(reviews_count=r["reviews_count"] + 0.5), True),
}
#: Signals the synthetic training rows give nothing to shift: sellers are never sent, and a
#: brand is always derived from the title; their values must still be well formed.
UNSHIFTABLE = {"seller_id", "seller_id_missing", "seller_id_unseen", "brand_missing"}
#: Signals of one input profile: the rows are sent that way before and after the shift.
PROFILE: dict[str, Callable[[pd.DataFrame], pd.DataFrame]] = {
    "price_residual_title": lambda r: r.assign(subcategory=None),
}


def test_every_signal_is_covered_here() -> None:
    assert {s.name for s in SIGNALS} == set(SHIFTS) | UNSHIFTABLE


@pytest.mark.parametrize("signal", SIGNALS, ids=lambda s: s.name)
def test_signal(signal, reference: DriftReference) -> None:
    raw = PROFILE.get(signal.name, lambda r: r)(make_products(300, seed=21))
    base = summarize(ProductFeatures.prepare(raw), reference).col(signal.name)
    assert base.shape == (300,) and not np.isinf(base).any()
    if signal.name in UNSHIFTABLE:
        return
    shift, up = SHIFTS[signal.name]
    moved_raw = shift(raw, np.random.default_rng(0))
    moved = summarize(ProductFeatures.prepare(moved_raw), reference).col(signal.name)
    before, after = np.nanmean(np.nan_to_num(base, nan=0.0) if signal.kind == "share" else base), np.nanmean(moved)
    if signal.kind == "buckets":  # a category mix: the bucket histogram, not its mean, moves
        assert np.unique(moved[~np.isnan(moved)]).size < np.unique(base[~np.isnan(base)]).size
    else:
        assert (after > before) if up else (after < before), (before, after)
    if signal.tests:
        verdict = DriftMonitor(reference).check(ProductFeatures.prepare(moved_raw), None)
        if signal.role == "completeness":  # a field sent less often is reported, never a drift verdict
            assert signal.field in verdict.details["completeness_flagged"]
            assert signal.field not in verdict.drifted_features
            return
        assert signal.field in verdict.drifted_features
        sketch = reference.numeric.get(signal.name)
        if sketch is not None and not sketch.usable:  # every training title's words were known: no spread
            return
        own = [name for name in verdict.details["flagged_tests"] if name.split(":")[0] == signal.name]
        assert own, verdict.details["flagged_tests"]
