"""The fallback chain on real data: quality per route, and with the primary made to fail.

    python bench/fallback_chain.py [--data ../shared/data/amazon_in_products.csv]

Fits a model in-process on the title-grouped 80 % split and scores the held-out 20 % title
only: (1) as served, (2) with the primary booster removed (every row answered by the chain),
(3) each fallback on its own. Target: chain >= 0.95x the primary's macro-F1.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.pipeline import ProductFeatures
from features.schema import LABEL
from pyfunc_model.model import ProductClassifierModel
from training.data import load_products, title_group_split, title_only
from training.evaluate import macro_f1
from training.fit import fit_model

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "amazon_in_products.csv"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA))
    args = parser.parse_args()
    frame, _ = load_products(args.data)
    train_df, test_df = title_group_split(frame, 0.2, 42)
    bundle = fit_model(train_df).bundle
    model = ProductClassifierModel()
    model.setup(bundle)
    inputs, y = title_only(test_df).drop(columns=LABEL), test_df[LABEL].to_numpy()

    rows = []
    t = time.perf_counter()
    served = model.predict(None, inputs)
    rows.append(("as served (primary)", macro_f1(y, served["category"]), time.perf_counter() - t, served))
    broken = ProductClassifierModel()
    broken.setup(bundle)
    broken.booster, broken.primary_problem = None, "primary_unavailable"
    t = time.perf_counter()
    chain = broken.predict(None, inputs)
    rows.append(("primary failed -> chain", macro_f1(y, chain["category"]), time.perf_counter() - t, chain))
    for route in ("naive_bayes", "random_forest", "rules", "prior"):
        scorer = model._scorers(ProductFeatures.prepare(inputs), None)[route]
        proba = scorer(np.arange(len(inputs)))
        answered = np.isfinite(proba).all(axis=1)
        pred = np.where(answered, model.classes[np.nan_to_num(proba).argmax(axis=1)], "<none>")
        rows.append((f"{route} alone (coverage {answered.mean():.0%})", macro_f1(y, pred), float("nan"), None))

    primary = rows[0][1]
    print(f"{'title-only, held-out 20 %':<40} {'macro-F1':>8} {'x primary':>9} {'seconds':>8}  routes")
    for name, f1, secs, out in rows:
        routes = "" if out is None else ", ".join(f"{k} {v}" for k, v in out["model_used"].value_counts().items())
        print(f"{name:<40} {f1:>8.4f} {f1 / primary:>9.3f} {secs:>8.2f}  {routes}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
