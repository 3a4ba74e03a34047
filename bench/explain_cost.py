"""What ``explain`` costs: ``predict`` with and without the param, same batches, ONE run.

    MLFLOW_TRACKING_URI=sqlite:///mlflow.db python bench/explain_cost.py [--model-uri URI] [--sizes 1,100]

The loaded artifact's Python model (no MLflow schema layer on either side); batches of distinct titles
(``bench/workload.py``), timed alternately with ``explain`` off and on;
p50 over ``--repeats`` calls per size, each call on a fresh batch so no title is scored twice.
Target: explain <= 2x predict at 1 and 100 rows.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import mlflow
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from workload import DEFAULT_DATA, DEFAULT_MODEL_URI, distinct_pool, distinct_title_batch

from training.data import load_products


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-uri", default=DEFAULT_MODEL_URI)
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--sizes", default="1,100")
    ap.add_argument("--repeats", type=int, default=60)
    args = ap.parse_args()
    # the Python model itself: both sides skip MLflow's schema layer, so the ratio is the work's
    # (and an artifact logged before the param existed still shows what it would cost)
    model = mlflow.pyfunc.load_model(args.model_uri).unwrap_python_model()
    frame, _ = load_products(args.data)
    pool = distinct_pool(frame).drop(columns=["category"])
    print("| rows | predict p50 ms | explain p50 ms | ratio |")
    print("|---|---|---|---|")
    for n in (int(s) for s in args.sizes.split(",")):
        batches = distinct_title_batch(pool, n * args.repeats * 2)
        model.predict(None, batches.iloc[:n])  # warm
        model.predict(None, batches.iloc[:n], params={"explain": True})
        plain, explained = [], []
        for r in range(args.repeats):
            a = batches.iloc[2 * r * n : (2 * r + 1) * n]
            b = batches.iloc[(2 * r + 1) * n : (2 * r + 2) * n]
            t = time.perf_counter()
            model.predict(None, a)
            plain.append(time.perf_counter() - t)
            t = time.perf_counter()
            out = model.predict(None, b, params={"explain": True})
            assert "explanation" in out.columns
            explained.append(time.perf_counter() - t)
        p, e = float(np.median(plain)) * 1e3, float(np.median(explained)) * 1e3
        print(f"| {n} | {p:.2f} | {e:.2f} | {e / p:.2f}x |", flush=True)


if __name__ == "__main__":
    main()
