"""The price residual's neighbour search: time per call at 1, 100 and 256 titles.

    MLFLOW_TRACKING_URI=sqlite:///mlflow.db python bench/price_search.py [--model-uri URI] [--sizes 1,100,256]

The loaded artifact's price model (``PriceLookup``), distinct titles (``bench/workload.py``),
the per-title cache off. Per size, p50 over ``--repeats`` batches of: the search as the monitor
runs it (``PriceLookup._search``: the top-n product, own-word titles left out, the weighted
neighbour price), and, as a baseline in the same run, scipy's plain sparse product of the same
query rows with the index (every similarity, no selection). 256 is the most titles a request's
summary searches (``summary.MAX_RESIDUAL_TITLES``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from workload import DEFAULT_DATA, DEFAULT_MODEL_URI, distinct_pool, distinct_title_batch

from features.prepared import prepare_input
from pyfunc_model.drift.summary import RowContext
from training.data import load_products


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-uri", default=DEFAULT_MODEL_URI)
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--sizes", default="1,100,256")
    ap.add_argument("--repeats", type=int, default=40)
    args = ap.parse_args()
    reference = mlflow.pyfunc.load_model(args.model_uri).unwrap_python_model().drift_reference
    lookups = reference.lookups()
    price = lookups.price
    price.cache.size = 0
    frame, _ = load_products(args.data)
    pool = distinct_pool(frame).drop(columns=["category"])
    print(f"index: {price.index.shape[1]:,} training titles; {price.knn_k} neighbours per title")
    print("| titles | search p50 ms | scipy product p50 ms | search / product |")
    print("|---|---|---|---|")
    for n in (int(s) for s in args.sizes.split(",")):
        rows = distinct_title_batch(pool, n * args.repeats)
        searched, product = [], []
        for r in range(args.repeats):
            columns = prepare_input(rows.iloc[r * n : (r + 1) * n]).columns
            words = RowContext(columns, lookups).titles[0].presence()
            t = time.perf_counter()
            price._search(words)
            searched.append(time.perf_counter() - t)
            t = time.perf_counter()
            q = price._query(words)
            sp.csr_matrix((q.data, q.indices, q.indptr), shape=(n, price.index.shape[0])) @ price.index
            product.append(time.perf_counter() - t)
        s, p = np.median(searched) * 1e3, np.median(product) * 1e3
        print(f"| {n} | {s:.3f} | {p:.3f} | {s / p:.2f} |", flush=True)


if __name__ == "__main__":
    main()
