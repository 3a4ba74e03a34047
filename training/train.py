"""Train, evaluate and log the product classifier: ``python -m training.train --data PATH``.

Steps: load + title-grouped split -> fit features (title-only copies of every row are added so
the booster learns to answer without subcategory/brand/seller) -> LightGBM with early stopping
-> temperature scaling -> fallbacks -> drift reference -> held-out evaluation of the assembled
model -> log everything to MLflow and register.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from features.schema import LABEL
from pyfunc_model.bundle import ModelBundle
from pyfunc_model.model import ProductClassifierModel
from pyfunc_model.review import THRESHOLD_KEY
from pyfunc_model.temperature import TEMPERATURE_KEY, UNKNOWN_SUBCATEGORY_KEY
from training.baseline import BaselineScores, baselines_in_background, evaluation_rows
from training.columns import CANONICAL, ColumnMappingError, parse_columns
from training.cv import MIN_FOLDS, cross_validate, log_cv
from training.data import Fingerprint, title_group_split
from training.dataset import load_several, load_training_data
from training.evaluate import (
    INPUT_SET_TITLES,
    INPUT_SETS,
    confusion_plot,
    per_class_f1,
    per_class_f1_plot,
    per_class_report,
    quality_metrics,
    reliability_plot,
    score_frame,
)
from training.fit import VALIDATION_SHARE, fit_model
from training.log_model import log_bundle
from training.run_params import model_params
from training.synthetic import generate_synthetic_products

log = logging.getLogger("training")
SYNTHETIC = "synthetic"


def load(
    data: str | list[str],
    synthetic_rows: int,
    rows_per_class: int | None = None,
    columns: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, Fingerprint]:
    if isinstance(data, list):  # several --data: the catalogue plus labelled review exports
        if len(data) > 1:
            return load_several(data, rows_per_class, columns=columns)
        return load(data[0], synthetic_rows, rows_per_class, columns)
    if data == SYNTHETIC:
        frame = generate_synthetic_products(synthetic_rows, seed=0)
        return frame, Fingerprint(f"synthetic:{synthetic_rows}", "", len(frame))
    return load_training_data(data, rows_per_class, columns=columns)


def train(
    data: str | list[str],
    registered_model_name: str | None,
    test_size: float = 0.2,
    seed: int = 42,
    synthetic_rows: int = 3000,
    experiment: str = "product-classifier",
    cv: int = 0,
    rows_per_class: int | None = None,
    columns: Mapping[str, str] | None = None,
) -> str:
    """Run the whole training job; returns the MLflow run id.

    Data problems surface while loading, before a run exists: a failed load leaves no run and no model.
    """
    t0 = time.perf_counter()
    frame, fingerprint = load(data, synthetic_rows, rows_per_class, columns)
    train_df, test_df = title_group_split(frame, test_size, seed)
    log.info(
        "data: %d rows, %d categories (train %d, test %d)",
        len(frame),
        frame[LABEL].nunique(),
        len(train_df),
        len(test_df),
    )
    with ExitStack() as stack:
        # without folds the held-out split's bars fit in a second process from here on (the fit runs on
        # one core), so they start before MLflow's setup, and the model is evaluated and logged while
        # they finish: they are the run's longest part. The model is registered once they are in.
        wait_for_bars = None if cv else stack.enter_context(baselines_in_background(train_df, test_df, seed))
        mlflow.set_experiment(experiment)
        run = stack.enter_context(mlflow.start_run())
        mlflow.log_params(
            {
                "data_path": fingerprint.path,
                "data_sha256": fingerprint.sha256,
                "data_rows": fingerprint.rows,
                "train_rows": len(frame),
                "test_size": test_size,
                "seed": seed,
            }
        )
        if wait_for_bars is None:  # fold 0 is the held-out split: its primary is the final model, its bars the run's
            table, fitted, bars = cross_validate(train_df, test_df, cv, seed)
            with tempfile.TemporaryDirectory() as tmp:
                for key, value in log_cv(table, Path(tmp)).items():
                    log.info("  %-40s %.4f", key, value)
        else:
            fitted = fit_model(train_df, seed)
        mlflow.log_params(model_params(fitted.bundle.features, VALIDATION_SHARE))
        if fitted.title_choice is not None:
            fitted.title_choice.log()
        metadata = fitted.bundle.metadata
        mlflow.log_params(
            {"best_iteration": fitted.best_iteration}
            | {key: round(metadata[key], 4) for key in (TEMPERATURE_KEY, UNKNOWN_SUBCATEGORY_KEY)}
        )
        fit_seconds = time.perf_counter() - t0

        log.info("evaluating on the held-out split...")
        metrics, f1_by_class = evaluate(fitted.bundle, test_df, fitted.bundle.classes)
        log.info("logging the model...")
        info = log_bundle(fitted.bundle, test_df.drop(columns=LABEL))
        mlflow.set_tag("model_uri", info.model_uri)
        t = time.perf_counter()
        if wait_for_bars is not None:
            bars = wait_for_bars()
        metrics["baseline_wait_seconds"] = time.perf_counter() - t
        metrics.update(log_bars(bars, f1_by_class))
        metrics["fit_seconds"] = fit_seconds
        metrics["train_seconds"] = time.perf_counter() - t0
        mlflow.log_metrics(metrics)
        for key, value in metrics.items():
            log.info("  %-32s %.4f", key, value)
        version = None
        if registered_model_name:
            version = mlflow.register_model(info.model_uri, registered_model_name).version
            log.info("registered %s version %s", registered_model_name, version)
        log.info("done in %.1fs: run %s, model %s", time.perf_counter() - t0, run.info.run_id, info.model_uri)
        print(f"run_id={run.info.run_id}")
        print(f"model_uri={info.model_uri}")
        if version:
            print(f"registered_version={version}")
        return run.info.run_id


def evaluate(
    bundle: ModelBundle, test_df: pd.DataFrame, classes: np.ndarray
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Score the assembled model (features, primary, chain) on the test split; log reports and
    plots. Returns the metrics and the F1 per class of each input set (for :func:`log_bars`)."""
    model = ProductClassifierModel()
    model.setup(bundle)
    test_df = evaluation_rows(test_df, classes)
    y = test_df[LABEL].to_numpy()
    metrics: dict[str, float] = {"eval_rows": len(test_df)}
    reliability, f1_by_class = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for suffix, reduce in INPUT_SETS.items():
            scored = score_frame(model, reduce(test_df).drop(columns=LABEL), classes)
            metrics.update(quality_metrics(y, scored, classes, suffix))
            name = INPUT_SET_TITLES[suffix]
            mlflow.log_dict(per_class_report(y, scored.pred), f"reports/per_class{suffix or '_all_fields'}.json")
            png = confusion_plot(
                y,
                scored.pred,
                [str(c) for c in classes],
                Path(tmp) / f"confusion{suffix or '_all_fields'}.png",
                f"confusion matrix ({name})",
            )
            mlflow.log_artifact(str(png), "plots")
            reliability[name] = (scored.proba.max(axis=1), scored.pred == y)
            f1_by_class[f"primary, {name}"] = per_class_f1(y, scored.pred, classes)
        mlflow.log_artifact(str(reliability_plot(reliability, Path(tmp) / "reliability.png")), "plots")
    metrics["review_threshold"] = model.review_threshold
    all_fields_key = f"{THRESHOLD_KEY}_all_fields"
    metrics[all_fields_key] = float(bundle.metadata.get(all_fields_key, model.review_threshold))
    return metrics, f1_by_class


def log_bars(bars: BaselineScores, f1_by_class: dict[str, dict[str, float]]) -> dict[str, float]:
    """Log the bars scored on the same held-out rows (:func:`training.baseline.held_out_bars`) and
    the per-class F1 plot of the model beside them; returns the bars' metrics."""
    mlflow.log_params(bars.params)
    with tempfile.TemporaryDirectory() as tmp:
        series = {**f1_by_class, "TF-IDF + LinearSVC (tuned), title only": bars.per_class_f1}
        png = per_class_f1_plot(series, Path(tmp) / "per_class_f1.png", "F1 per class (held-out split)")
        mlflow.log_artifact(str(png), "plots")
    return dict(bars.metrics)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        required=True,
        action="append",
        help=f"CSV/Parquet of product listings, or '{SYNTHETIC}'; repeat it to add files (e.g. a labelled "
        "review export from python -m registry_scripts review-export)",
    )
    parser.add_argument("--registered-model-name", default=None, help="register the model under this name")
    parser.add_argument("--experiment", default="product-classifier")
    parser.add_argument("--test-size", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--synthetic-rows", type=int, default=3000)
    parser.add_argument(
        "--cv",
        type=int,
        default=0,
        help="also evaluate on this many title-grouped folds, the held-out split being fold 0 (0: off)",
    )
    parser.add_argument(
        "--rows-per-class",
        type=int,
        default=None,
        help="keep at most this many rows per category (title-keyed sample); a Parquet folder is always "
        "scanned in batches and sampled, by default to training.dataset.DEFAULT_ROWS_PER_CLASS",
    )
    parser.add_argument(
        "--columns",
        default="",
        help="your file's column names: <file column>=<canonical column>,... (e.g. product_name=title,cat=category); "
        f"canonical columns: {', '.join(CANONICAL)}",
    )
    args = parser.parse_args(argv)
    try:
        columns = parse_columns(args.columns)
    except ColumnMappingError as exc:
        parser.error(str(exc))
    if args.cv != 0 and args.cv < MIN_FOLDS:
        parser.error(f"--cv must be 0 (off) or at least {MIN_FOLDS} folds: fold 0 is the held-out split")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)
    log.info("tracking URI: %s", mlflow.get_tracking_uri())
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    train(
        args.data,
        args.registered_model_name,
        args.test_size,
        args.seed,
        args.synthetic_rows,
        args.experiment,
        args.cv,
        args.rows_per_class,
        columns,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
