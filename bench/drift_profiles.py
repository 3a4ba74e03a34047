"""Drift verdicts per input profile: clients that send fewer fields, through the model's ``predict``.

    python bench/drift_profiles.py --model-uri URI [--data FILE] [--batches 30] [--streams 4] [--stream-rows 1500]

The model must have been trained by ``python -m training.train --data FILE`` (default split,
seed 42): batches are drawn from the same title-grouped held-out 20 %, so every row is a listing
the model never saw. Each profile keeps only the fields such a client sends. Prints, per
scenario, the share of 200-row batches whose verdict is on and, for single-row streams, the share
of rows flagged after the window warmed up, over ``--streams`` streams (one fresh model load per
stream, so windows do not carry over; a window verdict holds for several rows, so one stream
gives few independent events). In-distribution scenarios should stay at or under the 1 % false-alarm budget; the
shifted ones should be flagged.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from training.data import load_products, title_group_split

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "amazon_in_products.csv"
OPTIONAL = ("seller_id", "brand", "subcategory", "price", "rating", "reviews_count")
PROFILES: dict[str, tuple[str, ...]] = {
    "all fields": OPTIONAL,
    "title + price": ("price",),
    "title only": (),
}


def keep(frame: pd.DataFrame, fields: tuple[str, ...]) -> pd.DataFrame:
    return frame[["title", *fields]]


def three_words(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(title=frame["title"].map(lambda t: " ".join(str(t).split()[:3])))


def prices_up(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(price=pd.to_numeric(frame["price"], errors="coerce") * 1.5)


SCENARIOS: dict[str, tuple[tuple[str, ...], Callable[[pd.DataFrame], pd.DataFrame] | None]] = {
    **{f"{name}, in distribution": (fields, None) for name, fields in PROFILES.items()},
    "title only, 3-word titles": ((), three_words),
    "title + price, prices x1.5": (("price",), prices_up),
    "all fields, prices x1.5": (OPTIONAL, prices_up),
}


def batch_share(model_uri: str, pool: pd.DataFrame, scenario: str, batches: int, size: int, seed: int) -> float:
    fields, shift = SCENARIOS[scenario]
    model = mlflow.pyfunc.load_model(model_uri)
    rng = np.random.default_rng(seed)
    flagged = 0
    for _ in range(batches):
        batch = keep(pool.sample(size, random_state=int(rng.integers(1 << 31))).reset_index(drop=True), fields)
        out = model.predict(shift(batch) if shift else batch)
        flagged += bool(out["drift_detected"].any())
    return flagged / batches


def stream_share(model_uri: str, pool: pd.DataFrame, scenario: str, rows: int, streams: int, seed: int) -> float:
    fields, shift = SCENARIOS[scenario]
    warm: list[bool] = []
    for k in range(streams):
        model = mlflow.pyfunc.load_model(model_uri)
        sample = pool.sample(rows, replace=rows > len(pool), random_state=seed + k).reset_index(drop=True)
        stream = keep(sample, fields)
        stream = shift(stream) if shift else stream
        verdicts = [bool(model.predict(stream.iloc[[i]])["drift_detected"].iloc[0]) for i in range(rows)]
        warm += verdicts[60:]  # the window's first test needs 30 rows; give it two
    return float(np.mean(warm)) if warm else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-uri", required=True)
    ap.add_argument("--data", default=str(DATA))
    ap.add_argument("--batches", type=int, default=30)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--stream-rows", type=int, default=1500)
    ap.add_argument("--streams", type=int, default=4)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    frame, _ = load_products(args.data)
    _, held_out = title_group_split(frame)
    pool = held_out.drop(columns=["category"])
    print(
        f"held-out pool: {len(pool)} rows; {args.batches} batches of {args.batch}; "
        f"{args.streams} streams of {args.stream_rows}"
    )
    print(f"| scenario | {args.batch}-row batches flagged | single-row stream: rows flagged |")
    print("|---|---|---|")
    for scenario in SCENARIOS:
        b = batch_share(args.model_uri, pool, scenario, args.batches, args.batch, args.seed)
        s = (
            stream_share(args.model_uri, pool, scenario, args.stream_rows, args.streams, args.seed)
            if args.stream_rows
            else np.nan
        )
        print(f"| {scenario} | {b:.0%} | {s:.1%} |", flush=True)


if __name__ == "__main__":
    main()
