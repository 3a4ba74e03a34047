"""Learning curve: held-out macro-F1 (title only and all fields) against training rows per category.

``nice -n 10 python -m training.learning_curve --data ../shared/data/amazon_in_products.csv``

For each seed: one title-grouped train/test split; for each cap ``k`` in ``--rows-per-class``,
the training split is cut with the same title-keyed per-class sample that large-dataset training
uses (:func:`training.dataset.stratified_sample`), the full model is fitted (:func:`fit_model`)
and scored on the untouched test split. The last point is the whole training split. Logged to
MLflow as one run: a metric series per task (step = training rows), the table as CSV and JSON,
and the plot. The point where the curve flattens decides ``DEFAULT_ROWS_PER_CLASS``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import mlflow
import pandas as pd

from features.schema import LABEL
from pyfunc_model.model import ProductClassifierModel
from training.data import load_products, title_group_split, title_only
from training.dataset import stratified_sample
from training.evaluate import macro_f1
from training.fit import fit_model

log = logging.getLogger("training.learning_curve")
DEFAULT_CAPS = (50, 100, 200, 400)
TASKS = {"all_fields": lambda f: f, "title_only": title_only}


def curve_points(frame: pd.DataFrame, caps: list[int], seeds: list[int], test_size: float = 0.2) -> pd.DataFrame:
    """One row per (seed, cap): training rows, smallest class's rows, and macro-F1 per task."""
    rows = []
    for seed in seeds:
        train_df, test_df = title_group_split(frame, test_size, seed)
        full = int(train_df[LABEL].value_counts().max())
        for cap in [c for c in caps if c < full] + [full]:
            sample = stratified_sample(train_df, cap, seed) if cap < full else train_df
            started = time.perf_counter()
            model = ProductClassifierModel()
            progress = logging.getLogger("training.learning_curve.fit")
            model.setup(fit_model(sample, seed, progress=progress, drift_thresholds=False).bundle)
            fit_seconds = time.perf_counter() - started
            test = test_df[test_df[LABEL].isin(set(model.classes))]
            point = {
                "seed": seed,
                "rows_per_class_cap": cap if cap < full else None,
                "train_rows": len(sample),
                "min_class_rows": int(sample[LABEL].value_counts().min()),
                "fit_seconds": round(fit_seconds, 1),
            }
            for task, view in TASKS.items():
                pred = model.predict(None, view(test).drop(columns=LABEL))["category"].to_numpy()
                point[f"macro_f1_{task}"] = macro_f1(test[LABEL].to_numpy(), pred)
            log.info("%s", point)
            rows.append(point)
    return pd.DataFrame(rows)


def summarize(points: pd.DataFrame) -> pd.DataFrame:
    """Mean and spread over seeds per cap (the whole split counts as one point, cap 'all')."""
    keyed = points.assign(cap=points["rows_per_class_cap"].fillna(-1).astype(int))
    agg = keyed.groupby("cap", sort=True).agg(
        train_rows=("train_rows", "mean"),
        min_class_rows=("min_class_rows", "mean"),
        **{f"{t}_mean": (f"macro_f1_{t}", "mean") for t in TASKS},
        **{f"{t}_std": (f"macro_f1_{t}", "std") for t in TASKS},
        fit_seconds=("fit_seconds", "mean"),
    )
    agg = agg.reset_index()
    agg["cap"] = agg["cap"].map(lambda c: "all" if c < 0 else str(c))
    return agg.sort_values("train_rows").reset_index(drop=True).round(4)


def plot(summary: pd.DataFrame, path: Path, title: str) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for task in TASKS:
        ax.errorbar(
            summary["train_rows"],
            summary[f"{task}_mean"],
            yerr=summary[f"{task}_std"],
            marker="o",
            capsize=3,
            label=task.replace("_", " "),
        )
    for _, row in summary.iterrows():
        ax.annotate(
            f"{row['cap']}/class",
            (row["train_rows"], row["all_fields_mean"]),
            fontsize=7,
            textcoords="offset points",
            xytext=(0, 6),
            ha="center",
        )
    ax.set_xscale("log")
    ax.set_xlabel("training rows (log scale)")
    ax.set_ylabel("held-out macro-F1 (mean ± sd over seeds)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="CSV/Parquet of labelled listings (see training.data)")
    parser.add_argument("--rows-per-class", type=int, nargs="+", default=list(DEFAULT_CAPS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--experiment", default="product-classifier-learning-curve")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)
    logging.getLogger("training.learning_curve.fit").setLevel(logging.WARNING)
    frame, fingerprint = load_products(args.data)
    mlflow.set_experiment(args.experiment)
    with mlflow.start_run() as run, tempfile.TemporaryDirectory() as tmp:
        mlflow.log_params(
            {
                "data_path": fingerprint.path,
                "data_sha256": fingerprint.sha256,
                "data_rows": fingerprint.rows,
                "seeds": args.seeds,
                "rows_per_class": ",".join(map(str, args.rows_per_class)),
            }
        )
        points = curve_points(frame, sorted(args.rows_per_class), list(range(args.seeds)))
        summary = summarize(points)
        for _, row in summary.iterrows():
            for task in TASKS:
                mlflow.log_metric(f"macro_f1_{task}", row[f"{task}_mean"], step=int(row["train_rows"]))
        points.to_csv(Path(tmp) / "learning_curve_points.csv", index=False)
        summary.to_csv(Path(tmp) / "learning_curve.csv", index=False)
        mlflow.log_artifact(str(Path(tmp) / "learning_curve_points.csv"), "learning_curve")
        mlflow.log_artifact(str(Path(tmp) / "learning_curve.csv"), "learning_curve")
        title = f"{Path(fingerprint.path).name}: {fingerprint.rows} rows, {frame[LABEL].nunique()} classes"
        mlflow.log_artifact(str(plot(summary, Path(tmp) / "learning_curve.png", title)), "learning_curve")
    print(summary.to_string(index=False))
    print(f"run_id={run.info.run_id}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
