"""Drift verdicts on batches above ``large_n`` rows (Spark jobs, catalogue re-scoring).

    python bench/drift_large.py --model-uri URI [--data FILE] [--nulls 40] [--shifted 6]

The model must have been trained by ``python -m training.train --data FILE`` (default split, seed
42). Prints the share of in-distribution batches flagged, drawn from the whole file and from the
held-out 20 %, with replacement (listings repeat within a batch, as in a traffic log) at 1,500 /
3,000 / 10,000 rows and without replacement at 1,500 / 2,181 / 5,000 / 10,000 rows (capped at the
source's size); then how often shifts made as ``bench/drift_eval.py`` makes them are caught in
batches of 2,000 and 5,000 rows drawn from the held-out rows, and a category mix of distinct
listings from the whole file. Each verdict is printed for the reference as logged (the calibrated
tests on a sample of ``large_n`` distinct rows) and for the same reference without its calibration
(distances with noise-raised thresholds, the fallback).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from drift_eval import DATA, FAMILIES  # the same shifts as the 200-row curves

from features.pipeline import ProductFeatures
from features.schema import LABEL
from pyfunc_model.drift import DriftMonitor, DriftReference
from training.data import load_products, title_group_split


def flagged(reference: DriftReference, batch: pd.DataFrame) -> bool:
    return DriftMonitor(reference).check(ProductFeatures.prepare(batch.drop(columns=LABEL)), None).drifted


def mix_of_distinct_listings(frame: pd.DataFrame, n: int, share: float, seed: int) -> pd.DataFrame:
    """``share`` of ``n`` rows: distinct listings of three random categories; the rest drawn from the file."""
    rng = np.random.default_rng(seed)
    inside = frame[frame[LABEL].isin(rng.choice(frame[LABEL].unique(), size=3, replace=False))]
    extra = inside.sample(min(round(share * n), len(inside)), random_state=seed)
    base = frame.sample(n - len(extra), random_state=100 + seed)
    return pd.concat([base, extra]).sample(frac=1.0, random_state=seed)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-uri", required=True)
    ap.add_argument("--data", default=str(DATA / "amazon_in_products.csv"))
    ap.add_argument("--nulls", type=int, default=40)
    ap.add_argument("--shifted", type=int, default=6)
    args = ap.parse_args()
    logged = mlflow.pyfunc.load_model(args.model_uri).unwrap_python_model().drift_reference
    references = {"calibrated sample": logged, "distances": dataclasses.replace(logged, calibration={})}
    frame, _ = load_products(args.data)
    _, held_out = title_group_split(frame, test_size=0.2, seed=42)
    sources = {"whole file": frame, "held-out rows": held_out}

    print("| in distribution | rows | batches | " + " | ".join(references) + " |")
    print("|---|---|---|" + "---|" * len(references))
    for replace, sizes, count in (
        (True, (1500, 3000, 10000), args.nulls),
        (False, (1500, 2181, 5000, 10000), args.nulls // 2),
    ):
        for name, source in sources.items():
            for n in sorted({n if replace else min(n, len(source)) for n in sizes}):
                batches = [
                    source.sample(min(n, len(source)) if not replace else n, replace=replace, random_state=s)
                    for s in range(count)
                ]
                rates = [np.mean([flagged(r, b) for b in batches]) for r in references.values()]
                how = "with" if replace else "without"
                print(
                    f"| {name}, {how} replacement | {min(n, len(source)) if not replace else n} | {count} | "
                    + " | ".join(f"{r:.1%}" for r in rates)
                    + " |",
                    flush=True,
                )

    print("\n| shift (held-out rows, with replacement) | rows | " + " | ".join(references) + " |")
    print("|---|---|" + "---|" * len(references))
    for n in (2000, 5000):
        for family, (sizes, shift) in FAMILIES.items():
            for size in (sizes[0], sizes[len(sizes) // 2]):
                batches = [
                    shift(
                        held_out,
                        held_out.sample(n, replace=True, random_state=s).reset_index(drop=True),
                        np.random.default_rng(s),
                        size,
                    )
                    for s in range(args.shifted)
                ]
                hits = [sum(flagged(r, b) for b in batches) for r in references.values()]
                print(
                    f"| {family} {size:g} | {n} | " + " | ".join(f"{h}/{args.shifted}" for h in hits) + " |", flush=True
                )
        for share in (0.1, 0.3):
            batches = [mix_of_distinct_listings(frame, n, share, s) for s in range(args.shifted)]
            hits = [sum(flagged(r, b) for b in batches) for r in references.values()]
            print(
                f"| category mix {share:g}, distinct listings of the whole file | {n} | "
                + " | ".join(f"{h}/{args.shifted}" for h in hits)
                + " |",
                flush=True,
            )


if __name__ == "__main__":
    main()
