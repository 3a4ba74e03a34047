"""In-process ``mlflow.pyfunc.load_model(...).predict`` vs MLflow's floor and the raw path, in ONE run.

    MLFLOW_TRACKING_URI=sqlite:///mlflow.db python bench/throughput.py [--model-uri URI] [--sizes 1,100,10000,100000]
    python bench/throughput.py --ngrams [--repeats 5] [--max-features 300000]

Per batch size, two workloads (``bench/workload.py``): titles all DISTINCT (the headline: a
catalogue has few repeated titles) and rows drawn with replacement (titles repeat). Each is
timed four ways, alternating: the champion loaded with ``mlflow.pyfunc.load_model``; the same
with one thread per request (``PRODUCT_CLASSIFIER_THREADS=1`` for that call: what each request
costs when every core already serves another); the floor, a constant pyfunc with the same
signature and output shape loaded the same way (MLflow's own cost); the raw path, input cleaning
+ features (``prepare_input`` + ``transform_prepared``, the fastest feature path, in row chunks
on as many threads as ``predict`` uses) + ``Booster.predict``: the work itself, no drift checks,
routing or output. Ratios come from this run. Targets: 1 row p50 <= 1.5x the floor; 10,000
distinct titles >= 30,000 rows/s and <= 1.3x raw.

``--ngrams`` instead compares the title TF-IDF alone: scikit-learn's two ``TfidfVectorizer``s
vs ``features.ngrams.FastTfidf`` (transform rows/s on 10k titles, one-title latency, macro-F1
of LinearSVC(C=0.5) on the title-grouped 80/20 split for seeds 42 and 7). All timings are the
best of ``--repeats`` runs (single title: the median of 200 best-of-1 calls and the best), since
the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from unittest.mock import patch

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from workload import DEFAULT_DATA, DEFAULT_MODEL_URI

from features.prepared import prepare_input
from features.schema import LABEL
from pyfunc_model.model import SINGLE_THREAD_ROWS
from pyfunc_model.parallel import ENV_THREADS, by_row_chunks, thread_count


def best_of(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def ngram_table(frame: pd.DataFrame, repeats: int, max_features: int) -> None:
    """Title TF-IDF alone: scikit-learn's vectorizer pair vs ``FastTfidf`` (same matrix, faster)."""
    import scipy.sparse as sp
    from sklearn.metrics import f1_score
    from sklearn.svm import LinearSVC

    from features.ngrams import FastTfidf
    from features.text import as_strings
    from training.data import title_group_split

    class SklearnPair:
        """The two vectorizers exactly as ``TitleTextScorer`` builds them."""

        def __init__(self) -> None:
            self.pair = FastTfidf(max_features=max_features)._sklearn_pair()

        def fit_transform(self, docs: list[str]) -> sp.csr_matrix:
            return sp.hstack([v.fit_transform(docs) for v in self.pair], format="csr")

        def transform(self, docs: list[str]) -> sp.csr_matrix:
            return sp.hstack([v.transform(docs) for v in self.pair], format="csr")

    titles = as_strings(frame["title"])
    batch = [titles[i] for i in np.random.default_rng(0).choice(len(titles), 10_000, replace=len(titles) < 10_000)]
    print(f"{'vectorizer':>12} {'fit s':>6} {'rows/s':>8} {'1-title us (best/median)':>25} {'F1 s42':>7} {'F1 s7':>7}")

    def fast() -> FastTfidf:
        return FastTfidf(max_features=max_features)

    rows = {}
    for name, make in (("sklearn pair", SklearnPair), ("FastTfidf", fast)):
        f1 = {}
        for seed in (42, 7):
            train, test = title_group_split(frame, 0.2, seed)
            vec = make()
            t = time.perf_counter()
            X_train = vec.fit_transform(as_strings(train["title"]))
            fit_s = time.perf_counter() - t
            svc = LinearSVC(C=0.5, random_state=0).fit(X_train, train[LABEL].to_numpy())
            pred = svc.predict(vec.transform(as_strings(test["title"])))
            f1[seed] = f1_score(test[LABEL].to_numpy(), pred, average="macro")
        vec = make()
        vec.fit_transform(titles)
        t_batch = best_of(lambda vec=vec: vec.transform(batch), repeats)
        one = [titles[0]]
        singles = [best_of(lambda vec=vec, one=one: vec.transform(one), 1) for _ in range(200)]
        rows[name] = vec
        print(
            f"{name:>12} {fit_s:>6.1f} {len(batch) / t_batch:>8,.0f} "
            f"{min(singles) * 1e6:>12.0f} / {np.median(singles) * 1e6:>10.0f} {f1[42]:>7.4f} {f1[7]:>7.4f}"
        )
    diff = rows["sklearn pair"].transform(batch) != rows["FastTfidf"].transform(batch)
    print(f"matrices on the 10k batch differ in {diff.nnz} entries")


def timings(cases: dict[str, Callable[[], object]], calls: int) -> dict[str, np.ndarray]:
    """Seconds per call of each case, cases run in turn ``calls`` times (a burst of load hits all)."""
    out: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(calls):
        for name, fn in cases.items():
            out[name].append(best_of(fn, 1))
    return {name: np.asarray(t) for name, t in out.items()}


def one_thread(fn: Callable[[pd.DataFrame], object], batch: pd.DataFrame) -> object:
    """``fn(batch)`` with the model's per-request threads set to one (``pyfunc_model.parallel``)."""
    with patch.dict(os.environ, {ENV_THREADS: "1"}):
        return fn(batch)


def throughput_table(frame: pd.DataFrame, model_uri: str, sizes: list[int], repeats: int) -> None:
    """Champion ``load_model(...).predict`` vs the constant floor and the raw path, per size and workload."""
    import tempfile

    import mlflow
    from workload import distinct_pool, distinct_title_batch, repeated_title_batch, save_constant_model

    inputs = frame.drop(columns=LABEL)
    champion = mlflow.pyfunc.load_model(model_uri)
    model = champion.unwrap_python_model()
    with tempfile.TemporaryDirectory(prefix="throughput-floor-") as tmp:
        floor = mlflow.pyfunc.load_model(str(save_constant_model(model_uri, Path(tmp), "same")))
    pool = distinct_pool(inputs)
    print(f"model {model_uri}; {len(pool):,} distinct titles in the data; beyond that titles get a ' v<lap>' suffix")
    print("p50 over many calls for <= 100 rows, best of the alternated repeats above; cases alternate within a size")
    print(f"threads per request: {thread_count()} ({ENV_THREADS}); '1 thread' sets it to 1 for that call")
    head = f"{'rows':>7} {'titles':>14} {'predict rows/s':>15} {'1 thread rows/s':>15}"
    head += f" {'ms':>9} {'floor ms':>9} {'raw ms':>9}"
    print(f"{head} {'x floor':>8} {'x raw':>6}")
    for n in sizes:
        batches = {"distinct": distinct_title_batch(pool, n), "repeats": repeated_title_batch(inputs, n)}
        if n == 1:
            batches = {"distinct": batches["distinct"]}
        cases: dict[str, Callable[[], object]] = {}
        for kind, batch in batches.items():

            def raw(batch: pd.DataFrame = batch) -> None:
                # serving's fastest features, on as many threads as predict uses
                X = by_row_chunks(model.features.transform_prepared, prepare_input(batch).columns)
                model.booster.predict(
                    X, raw_score=True, num_threads=1 if len(batch) < SINGLE_THREAD_ROWS else 0, validate_features=False
                )

            cases[f"{kind} predict"] = lambda batch=batch: champion.predict(batch)
            cases[f"{kind} 1 thread"] = lambda batch=batch: one_thread(champion.predict, batch)
            cases[f"{kind} floor"] = lambda batch=batch: floor.predict(batch)
            cases[f"{kind} raw"] = raw
        for fn in cases.values():  # warm caches (hash cache, power tables) like a serving process
            fn()
        small = n <= 100
        times = timings(cases, max(repeats, 300 // n) if small else repeats)
        pick = np.median if small else np.min
        for kind, batch in batches.items():
            t = {case: float(pick(times[f"{kind} {case}"])) for case in ("predict", "1 thread", "floor", "raw")}
            label = f"{batch['title'].nunique():,} {kind}"
            print(
                f"{n:>7,} {label:>14} {n / t['predict']:>15,.0f} {n / t['1 thread']:>15,.0f} "
                f"{t['predict'] * 1e3:>9.2f} {t['floor'] * 1e3:>9.2f} {t['raw'] * 1e3:>9.2f} "
                f"{t['predict'] / t['floor']:>8.2f} {t['predict'] / t['raw']:>6.2f}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA) if DEFAULT_DATA.exists() else "synthetic")
    parser.add_argument("--model-uri", default=DEFAULT_MODEL_URI)
    parser.add_argument("--sizes", default="1,100,10000,100000", help="comma-separated batch sizes")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--ngrams", action="store_true", help="benchmark the title TF-IDF vectorizers alone")
    parser.add_argument("--max-features", type=int, default=300_000, help="n-gram cap per vectorizer (--ngrams)")
    args = parser.parse_args()
    if args.data == "synthetic":
        from training.synthetic import generate_synthetic_products

        frame = generate_synthetic_products(5000)
    else:
        from training.data import load_products

        frame, _ = load_products(args.data)
    if args.ngrams:
        ngram_table(frame, args.repeats, args.max_features)
        return 0
    throughput_table(frame, args.model_uri, [int(s) for s in args.sizes.split(",")], args.repeats)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
