"""Drift-detection evaluation for issue 3: false alarms, detection, delay and overhead.

Reference from a title-grouped 80 % training split of the Amazon file; 200-row batches drawn
from the held-out 20 % (so in-distribution batches contain genuinely new listings, brands and
words, as production does). Prints one table measured in this run.

    python bench/drift_eval.py [--data ../shared/data/amazon_in_products.csv] [--model-uri URI]

Confidences come from the model at ``--model-uri`` (its ``confidence`` output) when given,
otherwise from a stand-in (TF-IDF + SGD logistic regression on the title, fitted on 80 % of the
training split, validation confidences from the other 20 %).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import SGDClassifier
from sklearn.pipeline import make_pipeline

from features.pipeline import ProductFeatures
from features.text import normalize_title
from pyfunc_model.drift import DriftMonitor, DriftReference, build_reference, summarize
from training.data import load_products, title_group_split

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
Shift = Callable[[pd.DataFrame, np.random.Generator], pd.DataFrame]
Scorer = Callable[[pd.DataFrame], np.ndarray]


def stand_in(train: pd.DataFrame) -> tuple[Scorer, np.ndarray, np.ndarray]:
    """Title-only classifier fitted on 80 % of the training split; validation confidences and
    correctness on the other 20 % (title-grouped), as a real training run would produce them."""
    pipe = make_pipeline(
        TfidfVectorizer(sublinear_tf=True, min_df=2),
        SGDClassifier(loss="log_loss", alpha=2e-5, max_iter=30, tol=None, random_state=0),
    )
    fit, val = title_group_split(train, test_size=0.2, seed=1)
    pipe.fit(normalize_title(fit["title"]), fit["category"])
    proba = pipe.predict_proba(normalize_title(val["title"]))
    correct = pipe.classes_[proba.argmax(axis=1)] == val["category"].to_numpy()

    def score(frame: pd.DataFrame) -> np.ndarray:
        return pipe.predict_proba(normalize_title(frame["title"])).max(axis=1)

    return score, proba.max(axis=1), correct


def real_model(uri: str) -> tuple[Scorer, DriftReference, dict[str, float]]:
    """Confidence function, the artifact's own drift reference, and the run's chain metrics."""
    import mlflow
    import mlflow.pyfunc

    from training.drift_report import load_reference, to_model_input

    model = mlflow.pyfunc.load_model(uri)

    def score(frame: pd.DataFrame) -> np.ndarray:
        return model.predict(to_model_input(frame))["confidence"].to_numpy(dtype="float64")

    metrics: dict[str, float] = {}
    run_id = getattr(model.metadata, "run_id", None)
    if run_id:
        found = mlflow.get_run(run_id).data.metrics
        metrics = {k: v for k, v in found.items() if any(w in k for w in ("chain", "fallback", "title_only", "f1"))}
    return score, load_reference(model), metrics


# --- shifts: each takes a raw canonical batch (label included) and returns the shifted batch ---
def price_up(batch: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    return batch.assign(price=batch["price"] * 1.5)


def unseen_brands(batch: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Half of the batch's distinct brands (given explicitly, as a brand column) become new ones."""
    brand = ProductFeatures.prepare(batch)["brand"].to_numpy(dtype=object)
    distinct = pd.unique(brand[pd.notna(brand)])
    swap = set(rng.choice(distinct, size=len(distinct) // 2, replace=False).tolist())
    new = {b: f"zq{rng.integers(1e9)}x" for b in swap}
    return batch.assign(brand=[new.get(b, b) for b in brand])


def pricerunner_titles(titles: np.ndarray) -> Shift:
    def shift(batch: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
        return batch.assign(title=rng.choice(titles, size=len(batch), replace=False))

    return shift


def draw(pool: pd.DataFrame, n: int, rng: np.random.Generator, skew: bool = False) -> pd.DataFrame:
    """n rows from the pool; with ``skew`` 80 % of them from three random categories."""
    if not skew:
        return pool.iloc[rng.choice(len(pool), size=n, replace=False)].reset_index(drop=True)
    cats = rng.choice(pool["category"].unique(), size=3, replace=False)
    inside = np.flatnonzero(pool["category"].isin(cats).to_numpy())
    outside = np.flatnonzero(~pool["category"].isin(cats).to_numpy())
    k = int(0.8 * n)
    idx = np.concatenate(
        [rng.choice(inside, size=k, replace=len(inside) < k), rng.choice(outside, n - k, replace=False)]
    )
    return pool.iloc[idx].reset_index(drop=True)


def rate(
    monitor: DriftMonitor,
    pool: pd.DataFrame,
    score: Scorer,
    runs: int,
    size: int,
    seed: int,
    shift: Shift | None = None,
    skew: bool = False,
) -> tuple[float, dict[str, int]]:
    """Share of batches flagged, and how often each test fired."""
    rng = np.random.default_rng(seed)
    hits, fired = 0, {}
    for _ in range(runs):
        batch = draw(pool, size, rng, skew)
        if shift is not None:
            batch = shift(batch, rng)
        prepared = ProductFeatures.prepare(batch)
        verdict = monitor.check(prepared, score(batch))
        hits += verdict.drifted
        for name in verdict.details["flagged_tests"]:
            fired[name] = fired.get(name, 0) + 1
    return hits / runs, fired


def delay(
    reference: DriftReference,
    pool: pd.DataFrame,
    score: Scorer,
    window: int,
    runs: int,
    seed: int,
    shift: Shift | None,
    skew: bool = False,
    cap: int = 3000,
) -> tuple[list[int], float]:
    """Rows of single-row traffic after the change until the window flags (cap if never), and
    the share of single-row checks that flagged (the per-row false-alarm rate without a change)."""
    rng = np.random.default_rng(seed)
    out, flagged, checks = [], 0, 0
    for _ in range(runs):
        monitor = DriftMonitor(reference, window_size=window, min_batch=30)
        warm = ProductFeatures.prepare(draw(pool, window, rng))
        s = summarize(warm, reference)
        monitor._ring.append(s.table, s.tokens, score(warm))  # pre-change traffic fills the window
        after = draw(pool, min(cap, len(pool)), rng, skew)
        after = shift(after, rng) if shift is not None else after
        prepared, conf = ProductFeatures.prepare(after), score(after)
        summary = summarize(prepared, reference)
        first = None
        for i in range(len(prepared)):
            one = type(summary)(summary.table[i : i + 1], summary.tokens[i : i + 1])
            hit = monitor.check(prepared.iloc[i : i + 1], conf[i : i + 1], summary=one).drifted
            flagged, checks = flagged + hit, checks + 1
            if hit and first is None:
                first = i + 1
                if shift is not None or skew:
                    break
        out.append(first if first is not None else cap)
    return out, flagged / max(checks, 1)


def overhead(monitor: DriftMonitor, pool: pd.DataFrame, score: Scorer, repeats: int = 30) -> tuple[float, float]:
    """Median ms of ``check`` (summary included) and of the scorer on 1,000 rows."""
    batch = draw(pool, 1000, np.random.default_rng(0))
    prepared, conf = ProductFeatures.prepare(batch), score(batch)
    times, score_times = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        monitor.check(prepared, conf)
        times.append(time.perf_counter() - t0)
    for _ in range(max(repeats // 5, 3)):
        t0 = time.perf_counter()
        score(batch)
        score_times.append(time.perf_counter() - t0)
    return 1000 * float(np.median(times)), 1000 * float(np.median(score_times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DATA / "amazon_in_products.csv"))
    ap.add_argument("--pricerunner", default=str(DATA / "pricerunner_products.csv"))
    ap.add_argument("--model-uri", default=None)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--null-batches", type=int, default=500)
    ap.add_argument("--shift-batches", type=int, default=100)
    ap.add_argument("--delay-runs", type=int, default=10)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    frame, _ = load_products(args.data)
    train, pool = title_group_split(frame, test_size=0.2, seed=42)
    runner, _ = load_products(args.pricerunner)
    titles = runner["title"].dropna().to_numpy(dtype=object)

    t0 = time.perf_counter()
    chain: dict[str, float] = {}
    if args.model_uri:
        score, reference, chain = real_model(args.model_uri)
        source = f"model {args.model_uri} (its confidence output and its own drift reference)"
    else:
        score, val_conf, val_ok = stand_in(train)
        source = "stand-in (tf-idf + SGD logistic regression, title only)"
        reference = build_reference(ProductFeatures.prepare(train), val_conf, val_ok)
    build_s = time.perf_counter() - t0
    ref_kb = len(json.dumps(reference.to_dict())) / 1024
    monitor = DriftMonitor(reference)

    shifts: list[tuple[str, Shift | None, bool]] = [
        ("prices x1.5", price_up, False),
        ("half the brands unseen", unseen_brands, False),
        ("category mix skewed to 3", None, True),
        ("pricerunner titles", pricerunner_titles(titles), False),
    ]
    print(f"confidences: {source}")
    print(f"reference: {reference.n_rows} training rows, JSON {ref_kb:.0f} KB; setup {build_s:.1f}s")
    print(f"held-out pool: {len(pool)} rows; batches of {args.batch} rows\n")
    print(f"{'scenario':<28}{'batches':>8}{'flagged':>10}{'target':>10}   tests that fired most")
    fa, fired = rate(monitor, pool, score, args.null_batches, args.batch, args.seed)
    print(f"{'in-distribution (false alarm)':<28}{args.null_batches:>8}{fa:>10.1%}{'<= 1%':>10}   {_top(fired)}")
    for i, (name, shift, skew) in enumerate(shifts):
        det, fired = rate(monitor, pool, score, args.shift_batches, args.batch, args.seed + 1 + i, shift, skew)
        print(f"{name:<28}{args.shift_batches:>8}{det:>10.1%}{'>= 97%':>10}   {_top(fired)}")

    print("\nsingle-row traffic, window of 1000 rows pre-filled with in-distribution rows:")
    print(f"{'scenario':<28}{'runs':>6}{'median delay':>14}{'p90 delay':>11}{'never':>7}")
    for i, (name, shift, skew) in enumerate(shifts):
        d, _ = delay(reference, pool, score, 1000, args.delay_runs, args.seed + 10 + i, shift, skew)
        print(f"{name:<28}{len(d):>6}{np.median(d):>14.0f}{np.quantile(d, 0.9):>11.0f}{sum(x >= 3000 for x in d):>7}")
    runs = max(args.delay_runs // 2, 2)
    d, share = delay(reference, pool, score, 1000, runs, args.seed + 20, None, cap=len(pool))
    print(
        f"no change: {runs} streams of {len(pool)} single rows; {share:.2%} of checks flagged; "
        f"first false flag after {[x if x < len(pool) else 'never' for x in d]} rows"
    )

    check_ms, score_ms = overhead(monitor, pool, score)
    if args.model_uri:  # predict already runs the drift check once: compare with the rest of predict
        rest = max(score_ms - check_ms, 1e-9)
        print(
            f"\noverhead on a 1000-row batch: check {check_ms:.1f} ms (summary + tests); predict {score_ms:.1f} ms "
            f"including one check -> drift adds {check_ms / rest:.0%} to the rest of predict"
        )
    else:
        print(
            f"\noverhead on a 1000-row batch: check {check_ms:.1f} ms (summary + tests); "
            f"stand-in scorer {score_ms:.1f} ms (not the real predict)"
        )
    if chain:
        print("\nchain metrics logged by the model's training run:")
        for key, value in sorted(chain.items()):
            print(f"  {key:<40}{value:.4f}")


def _top(fired: dict[str, int], k: int = 3) -> str:
    return ", ".join(f"{n} {c}" for n, c in sorted(fired.items(), key=lambda kv: -kv[1])[:k]) or "-"


if __name__ == "__main__":
    main()
