"""What the drift monitor costs inside ``predict``: its share of the call at 1, 100 and 1,000 rows.

    MLFLOW_TRACKING_URI=sqlite:///mlflow.db python bench/drift_cost.py [--model-uri URI] [--sizes 1,100,1000]

The loaded artifact's Python model; batches of distinct titles (``bench/workload.py``), sent with
every field, with a title and a price, and with a title only. Per call, ``predict`` is timed and then
the drift work it contains, repeated on the same batch: the per-row values
(``DriftMonitor.summarize_request``), the row reasons (``ood_flags``) and the verdict
(``DriftMonitor.check``, given the answer's confidences and categories: the request's own tests
from 30 rows; below, the shared window, which summarises the rows received since its last test in
one pass and tests them with the others).
p50 of each over ``--repeats`` fresh batches; single rows are timed
once 1,000 others have filled the window (the steady state of single-row traffic: every tenth
call tests a full window at three scales). Target: drift <= 15 % of ``predict``.

``predict`` runs on one thread here (``PRODUCT_CLASSIFIER_THREADS=1`` unless the caller sets it):
the share is of the work. On more threads the summary runs beside the features and the booster
from 100 rows (``pyfunc_model.parallel``), so less of it shows in ``predict``'s wall time;
``bench/throughput.py`` measures that.

The per-title cache of the price neighbour search is off for those rows (``bench/workload.py``);
the last rows turn it on (100 rows, every field): "new titles" empties it before every timed
section (what a title never sent costs with the cache: its key, a miss, the store), "sent before"
scores batches the model has answered once already (a catalogue sent again).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from workload import DEFAULT_DATA, DEFAULT_MODEL_URI, distinct_pool, distinct_title_batch

from features.prepared import prepare_input
from pyfunc_model.drift import DriftMonitor, ood_flags
from pyfunc_model.drift.signals.price_given_title import MAX_CACHED_TITLES, TitleCache
from pyfunc_model.parallel import ENV_THREADS
from training.data import load_products

os.environ.setdefault(ENV_THREADS, "1")  # see the module docstring

#: The monitor's defaults: requests under MIN_BATCH rows join a window of WINDOW_ROWS rows.
WINDOW_ROWS, MIN_BATCH = 1000, 30

PROFILES = {"all fields": None, "title + price": ("title", "price"), "title only": ("title",)}


def keep(frame: pd.DataFrame, fields: tuple[str, ...] | None) -> pd.DataFrame:
    return frame if fields is None else frame[list(fields)]


def answers(model: object, out: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The confidences and predicted class indices of ``predict``'s answer (what its check reads)."""
    classes = pd.Index(model.classes)  # type: ignore[attr-defined]
    return out["confidence"].to_numpy(dtype="float64"), classes.get_indexer(out["category"])


def measure(
    model: object,
    batches: list[pd.DataFrame],
    before: Callable[[], object] = lambda: None,
    warm: list[pd.DataFrame] = (),
) -> tuple[float, float, float, float]:
    """(predict p50, drift p50, predict mean, drift mean) in ms over ``batches``, alternated call by
    call (the mean counts the window tests that single rows run one call in ten); ``before`` runs
    ahead of each timed section, untimed. ``warm``: requests sent first, untimed, to the model and
    to the measured monitor alike, so that single rows are timed against a full window (its tests
    cost with the rows it holds)."""
    monitor = DriftMonitor(model.drift_reference)  # type: ignore[attr-defined]
    for batch in warm:
        out = model.predict(None, batch)  # type: ignore[attr-defined]
        conf, predicted = answers(model, out)
        monitor.check(prepare_input(batch).columns, conf, predicted=predicted)
    predict_s, drift_s = [], []
    for batch in batches:
        before()
        t = time.perf_counter()
        out = model.predict(None, batch)  # type: ignore[attr-defined]
        predict_s.append(time.perf_counter() - t)
        columns = prepare_input(batch).columns
        conf, predicted = answers(model, out)
        before()
        t = time.perf_counter()
        summary = monitor.summarize_request(columns, len(batch))  # as predict: in part below min_batch
        ood_flags(columns, model.drift_reference, summary)  # type: ignore[attr-defined]
        monitor.check(columns, conf, summary=summary, predicted=predicted)
        drift_s.append(time.perf_counter() - t)
    p, d = np.asarray(predict_s) * 1e3, np.asarray(drift_s) * 1e3
    return float(np.median(p)), float(np.median(d)), float(p.mean()), float(d.mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model-uri", default=DEFAULT_MODEL_URI)
    ap.add_argument("--data", default=str(DEFAULT_DATA))
    ap.add_argument("--sizes", default="1,100,1000")
    ap.add_argument("--repeats", type=int, default=60)
    args = ap.parse_args()
    model = mlflow.pyfunc.load_model(args.model_uri).unwrap_python_model()
    frame, _ = load_products(args.data)
    pool = distinct_pool(frame).drop(columns=["category"])
    print("| input | rows | predict p50 ms | drift p50 ms | share of p50 | share of mean |")
    print("|---|---|---|---|---|---|")
    for name, fields in PROFILES.items():
        for n in (int(s) for s in args.sizes.split(",")):
            repeats = args.repeats if n < 1000 else max(10, args.repeats // 4)
            warm = WINDOW_ROWS // n if n < MIN_BATCH else 1  # single rows: fill the window first
            rows = distinct_title_batch(pool, n * (repeats + warm))
            batches = [keep(rows.iloc[i * n : (i + 1) * n], fields) for i in range(repeats + warm)]
            model.predict(None, batches[0])  # warm caches
            p, d, pm, dm = measure(model, batches[warm:], warm=batches[1:warm])
            print(f"| {name} | {n} | {p:.2f} | {d:.2f} | {d / p:.0%} | {dm / pm:.0%} |", flush=True)
    price = model.drift_reference.lookups().price
    price.cache = cache = TitleCache(MAX_CACHED_TITLES)
    n, repeats = 100, args.repeats
    rows = distinct_title_batch(pool, n * (repeats + 1))
    batches = [rows.iloc[i * n : (i + 1) * n] for i in range(repeats + 1)]
    model.predict(None, batches[0])
    for label, before in (("new titles", cache.clear), ("sent before", lambda: None)):
        if label == "sent before":
            for batch in batches[1:]:
                model.predict(None, batch)
        p, d, pm, dm = measure(model, batches[1:], before)
        print(f"| all fields, cache on, {label} | {n} | {p:.2f} | {d:.2f} | {d / p:.0%} | {dm / pm:.0%} |", flush=True)


if __name__ == "__main__":
    main()
