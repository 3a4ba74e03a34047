"""In-process ``predict`` throughput vs the raw path (features + ``Booster.predict`` alone).

    python bench/throughput.py [--data ../shared/data/amazon_in_products.csv] [--model-uri URI]

Without ``--model-uri`` a model is fitted in-process on the data's training split. Prints one
table; ratios are measured in this run. Targets (issue 6): >= 30,000 rows/s and <= 1.5x raw.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.schema import LABEL  # noqa: E402
from pyfunc_model.model import ProductClassifierModel  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "amazon_in_products.csv"


def load_model(args: argparse.Namespace, frame: pd.DataFrame) -> ProductClassifierModel:
    if args.model_uri:
        import mlflow

        return mlflow.pyfunc.load_model(args.model_uri).unwrap_python_model()
    from training.data import title_group_split
    from training.train import fit_model

    train_df, _ = title_group_split(frame, 0.2, 42)
    model = ProductClassifierModel()
    model.setup(fit_model(train_df).bundle)
    return model


def best_of(fn, repeats: int) -> float:  # noqa: ANN001 - any zero-argument callable
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA) if DEFAULT_DATA.exists() else "synthetic")
    parser.add_argument("--model-uri", default=None)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.data == "synthetic":
        from training.synthetic import generate_synthetic_products

        frame = generate_synthetic_products(5000)
    else:
        from training.data import load_products

        frame, _ = load_products(args.data)
    model = load_model(args, frame)
    inputs = frame.drop(columns=LABEL)

    print(f"{'rows':>8} {'predict rows/s':>15} {'raw rows/s':>11} {'ratio':>6} {'1-row ms':>9}")
    for n in (10_000, 100_000):
        batch = inputs.sample(n, replace=True, random_state=n).reset_index(drop=True)

        def full(batch: pd.DataFrame = batch) -> None:
            model.predict(None, batch)

        def raw(batch: pd.DataFrame = batch) -> None:
            X = model.features.transform(batch)
            model.booster.predict(X, raw_score=True, validate_features=False)

        t_full, t_raw = best_of(full, args.repeats), best_of(raw, args.repeats)
        one = inputs.iloc[[0]]
        t_one = np.median([best_of(lambda: model.predict(None, one), 1) for _ in range(50)])
        print(f"{n:>8} {n / t_full:>15,.0f} {n / t_raw:>11,.0f} {t_full / t_raw:>6.2f} {t_one * 1000:>9.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
