"""Training wall time and peak memory against rows: ``python -m training.train`` at 10k, 100k and 1M rows.

    nice -n 10 python bench/train_scale.py [--rows 10000 100000 1000000] [--data ../shared/data/amazon_in_products.csv]
    python bench/train_scale.py --generate 100000 --out /tmp/rows.parquet   # only write the rows

Rows are real titles RECOMBINED in memory (nothing is written into the project): per category,
the first words of one real title (brand and product head) joined to the rest of another real
title of the same category, plus a model number, so word and character statistics, title lengths,
vocabulary growth and class balance follow the real file; sub-category, price, rating and
reviews are drawn from real rows of the same category. Each size is trained by the real CLI in a
fresh process (``--rows-per-class`` not set: every row is trained on); wall time is the whole
job (load, features, booster, fallbacks, evaluation, logging), peak RSS is the process's
``ru_maxrss`` (``os.wait4``), CPU time its user + system seconds (on a shared machine wall time
also counts other jobs; training runs mostly on one thread, so CPU time is close to the wall
time of an idle machine). The growth exponent is the slope of log(CPU time) and log(memory)
against log(rows) between consecutive sizes. Targets: 1M rows <= 10 minutes and <= 8 GB on 2 cores.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from features.schema import LABEL  # noqa: E402
from training.data import load_products  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "amazon_in_products.csv"
DEFAULT_ROWS = (10_000, 100_000, 1_000_000)
TABULAR = ("subcategory", "price", "rating", "reviews_count")


def recombined_rows(real: pd.DataFrame, n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` listings whose titles splice two real titles of the same category (see module docstring)."""
    rng = np.random.default_rng(seed)
    shares = real[LABEL].value_counts(normalize=True)
    labels = rng.choice(shares.index.to_numpy(), size=n, p=shares.to_numpy())
    out = pd.DataFrame({LABEL: labels})
    titles = np.empty(n, dtype=object)
    tab = {c: np.empty(n, dtype=object if c == "subcategory" else float) for c in TABULAR}
    for label, rows in out.groupby(LABEL).indices.items():
        pool = real[real[LABEL] == label].reset_index(drop=True)
        words = pool["title"].astype(str).str.split()
        cut = words.map(lambda w: max(1, min(3, len(w) // 2)))
        heads = np.array([" ".join(w[:c]) for w, c in zip(words, cut, strict=True)], dtype=object)
        tails = np.array([" ".join(w[c:]) for w, c in zip(words, cut, strict=True)], dtype=object)
        i, j = rng.integers(0, len(pool), size=(2, len(rows)))
        number = rng.integers(1, 10_000, size=len(rows))
        titles[rows] = [f"{h} {t} {m}".strip() for h, t, m in zip(heads[i], tails[j], number, strict=True)]
        donor = rng.integers(0, len(pool), size=len(rows))
        for col in TABULAR:
            tab[col][rows] = pool[col].to_numpy()[donor]
    # real titles are cut at a fixed length (125 characters in amazon.in): so are these
    frame = pd.DataFrame({"title": pd.Series(titles).str.slice(0, int(real["title"].str.len().max())), **tab})
    frame[LABEL] = labels
    frame["seller_id"] = None
    frame["brand"] = None
    return frame


def run_training(data: Path, workdir: Path, log_path: Path) -> tuple[float, float, float, int]:
    """Wall seconds, CPU seconds (user + system), peak RSS in GB and exit code of one ``training.train`` process.

    CPU seconds are what the job would take on an idle machine (it runs mostly on one thread);
    wall time on a shared machine also counts the time other work held the cores.
    """
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLFLOW_TRACKING_URI": f"sqlite:///{workdir / 'mlflow.db'}"}
    cmd = [sys.executable, "-m", "training.train", "--data", str(data)]
    started = time.perf_counter()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024**2, proc.returncode


def exponent(a: tuple[int, float], b: tuple[int, float]) -> float:
    return math.log(b[1] / a[1]) / math.log(b[0] / a[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="real listings whose titles are recombined")
    parser.add_argument("--rows", type=int, nargs="+", default=list(DEFAULT_ROWS))
    parser.add_argument("--workdir", default=None, help="keep generated data, logs and the MLflow store here")
    parser.add_argument("--generate", type=int, default=None, help="only write this many rows to --out")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    real, _ = load_products(args.data)
    if args.generate:
        recombined_rows(real, args.generate).to_parquet(args.out, index=False)
        return 0
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="train-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results: list[tuple[int, float, float]] = []  # rows, CPU seconds, peak GB
    print(f"# {Path(args.data).name} recombined; logs and store in {workdir}; {os.cpu_count()} CPUs", flush=True)
    print("| rows | wall s | CPU s | peak RSS GB | CPU exponent | memory exponent | load avg (1 min) before/after |")
    print("|---:|---:|---:|---:|---:|---:|---|", flush=True)
    for n in sorted(args.rows):
        data = workdir / f"rows-{n}.parquet"
        recombined_rows(real, n, seed=n).to_parquet(data, index=False)
        load_before = os.getloadavg()[0]  # the machine may be shared: say how busy it was
        seconds, cpu, peak_gb, code = run_training(data, workdir, workdir / f"train-{n}.log")
        load = f"{load_before:.1f} / {os.getloadavg()[0]:.1f}"
        if code != 0:
            print(f"training on {n} rows failed ({code}); see {workdir / f'train-{n}.log'}", file=sys.stderr)
            return 1
        t_exp = m_exp = ""
        if results:
            prev = results[-1]
            t_exp = f"{exponent((prev[0], prev[1]), (n, cpu)):.2f}"
            m_exp = f"{exponent((prev[0], prev[2]), (n, peak_gb)):.2f}"
        results.append((n, cpu, peak_gb))
        print(f"| {n:,} | {seconds:.0f} | {cpu:.0f} | {peak_gb:.2f} | {t_exp} | {m_exp} | {load} |", flush=True)
    if len(results) > 1:
        first, last = results[0], results[-1]
        print(
            f"overall growth exponent {results[0][0]:,} -> {last[0]:,} rows: "
            f"CPU time {exponent((first[0], first[1]), (last[0], last[1])):.2f}, "
            f"memory {exponent((first[0], first[2]), (last[0], last[2])):.2f} (1.00 = linear)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
