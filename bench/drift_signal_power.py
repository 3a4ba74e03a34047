"""Power of each drift signal on its own, beside the others: which signals' tests flag which shift.

    python bench/drift_signal_power.py [--data ../shared/data/amazon_in_products.csv] [--batches 100]

The reference is built from the title-grouped 80 % training split (``training.drift_reference``);
200-row batches are drawn from the held-out 20 % and shifted. Per shift: the share of batches
whose verdict is on, and per signal the share of batches in which one of its own tests flagged.
The shifts include two that hide from the pooled distributions: ratings moved down in half the
sub-categories and up in the other half (pooled mean unchanged), and review counts x4 on the
cheapest fifth of the listings only; and two pairs that move the level by the same amount off the
values' grid and on it (ratings -0.05 or 0.1 lower on half the rows; prices x1.05, or x1.05
rounded to whole rupees), which tell the precision test's share from the level tests'.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.pipeline import ProductFeatures
from features.schema import LABEL
from pyfunc_model.drift import DriftMonitor
from training.data import load_products, title_group_split
from training.drift_reference import build_reference

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "amazon_in_products.csv"
Shift = Callable[[pd.DataFrame, np.random.Generator], pd.DataFrame]


def ratings_split(batch: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Ratings -0.3 in a random half of the sub-categories, +0.3 in the other half."""
    subs = batch["subcategory"].astype(str).unique()
    down = set(rng.choice(subs, size=len(subs) // 2, replace=False))
    sign = np.where(batch["subcategory"].astype(str).isin(down), -0.3, 0.3)
    return batch.assign(rating=(pd.to_numeric(batch["rating"], errors="coerce") + sign).clip(1.0, 5.0))


def cheap_reviews(batch: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Review counts x4 on the cheapest fifth of the batch only."""
    price = pd.to_numeric(batch["price"], errors="coerce")
    cheap = price <= price.quantile(0.2)
    reviews = pd.to_numeric(batch["reviews_count"], errors="coerce")
    return batch.assign(reviews_count=np.where(cheap, reviews * 4, reviews))


def _number(batch: pd.DataFrame, field: str) -> pd.Series:
    return pd.to_numeric(batch[field], errors="coerce")


SHIFTS: dict[str, Shift] = {
    "none": lambda b, r: b,
    "ratings -0.1": lambda b, r: b.assign(rating=(_number(b, "rating") - 0.1).clip(1, 5)),
    # the same mean shift off the grid of tenths, and on it (half the rows 0.1 lower)
    "ratings -0.05": lambda b, r: b.assign(rating=(_number(b, "rating") - 0.05).clip(1, 5)),
    "ratings -0.1 on half the rows": lambda b, r: b.assign(
        rating=(_number(b, "rating") - 0.1 * (r.random(len(b)) < 0.5)).clip(1, 5)
    ),
    # prices x1.05 off the grid of whole rupees, and rounded back onto it
    "prices x1.05": lambda b, r: b.assign(price=_number(b, "price") * 1.05),
    "prices x1.05, whole rupees": lambda b, r: b.assign(price=np.round(_number(b, "price") * 1.05)),
    "ratings -0.3 / +0.3 by sub-category": ratings_split,
    "reviews x4 on the cheapest fifth": cheap_reviews,
    "reviews x2": lambda b, r: b.assign(reviews_count=_number(b, "reviews_count") * 2),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--batches", type=int, default=100)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    frame, _ = load_products(args.data)
    train, pool = title_group_split(frame, test_size=0.2, seed=42)
    reference = build_reference(ProductFeatures.prepare(train.drop(columns=LABEL)), np.array([]))
    monitor = DriftMonitor(reference)
    rng = np.random.default_rng(args.seed)
    signals = [
        "price",
        "price_residual",
        "price_precision",
        "rating",
        "rating_given_subcategory",
        "rating_precision",
        "reviews_count",
        "reviews_given_price_band",
    ]
    print(f"{args.batches} batches of {args.batch} held-out rows per shift; share of batches flagged")
    print("| shift | verdict | " + " | ".join(signals) + " |")
    print("|---|---|" + "---|" * len(signals))
    for name, shift in SHIFTS.items():
        flagged, by_signal = 0, Counter()
        for _ in range(args.batches):
            batch = pool.iloc[rng.choice(len(pool), size=args.batch, replace=False)].reset_index(drop=True)
            verdict = monitor.check(ProductFeatures.prepare(shift(batch, rng).drop(columns=LABEL)), None)
            flagged += verdict.drifted
            by_signal.update({t.split(":")[0] for t in verdict.details["flagged_tests"]})
        shares = " | ".join(f"{by_signal[s] / args.batches:.0%}" for s in signals)
        print(f"| {name} | {flagged / args.batches:.0%} | {shares} |", flush=True)


if __name__ == "__main__":
    main()
