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
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from sklearn.model_selection import GroupShuffleSplit

from features.pipeline import ProductFeatures
from features.schema import LABEL
from features.text import normalize_title
from pyfunc_model.bundle import ModelBundle
from pyfunc_model.chain import softmax
from pyfunc_model.model import ProductClassifierModel
from training.baseline import fit_title_baseline
from training.calibration import fit_temperature
from training.data import Fingerprint, load_products, title_group_split, title_only
from training.drift_reference import build_reference
from training.evaluate import confusion_plot, expected_calibration_error, macro_f1, per_class_report
from training.fit import PRIMARY_PARAMS, fit_fallbacks, fit_primary
from training.log_model import log_bundle
from training.synthetic import generate_synthetic_products

log = logging.getLogger("training")
SYNTHETIC = "synthetic"


def load(data: str, synthetic_rows: int) -> tuple[pd.DataFrame, Fingerprint]:
    if data == SYNTHETIC:
        frame = generate_synthetic_products(synthetic_rows, seed=0)
        return frame, Fingerprint(f"synthetic:{synthetic_rows}", "", len(frame))
    return load_products(data)


def with_title_only_copies(frame: pd.DataFrame) -> pd.DataFrame:
    """Every row twice: as given, and with subcategory/brand/seller removed."""
    return pd.concat([frame, title_only(frame)], ignore_index=True)


@dataclass
class FittedModel:
    """What training produces before anything is logged: the bundle plus validation facts."""

    bundle: ModelBundle
    best_iteration: int
    temperature: float


def fit_model(train_df: pd.DataFrame, seed: int = 42, progress: logging.Logger = log) -> FittedModel:
    """Fit features, primary, calibration, fallbacks and drift reference on ``train_df``.

    Title text scores are out-of-fold over all of ``train_df`` (with its title-only copies), so
    the booster's early-stopping rows (15 %, grouped by title) are scored like unseen data.
    """
    t0 = time.perf_counter()
    train_aug = with_title_only_copies(train_df)
    progress.info("fitting features (hashing, cross, subcategory shares, numeric, out-of-fold title scores)...")
    features = ProductFeatures(random_state=seed)
    X = features.fit_transform(train_aug.drop(columns=LABEL), train_aug[LABEL].to_numpy())
    classes = features.classes_
    y = train_aug[LABEL].map({c: i for i, c in enumerate(classes)}).to_numpy()
    groups = normalize_title(train_aug["title"]).to_numpy()
    fit_rows, valid_rows = next(GroupShuffleSplit(1, test_size=0.15, random_state=seed + 1).split(X, groups=groups))
    progress.info("features ready: %d columns (%.1fs)", X.shape[1], time.perf_counter() - t0)

    progress.info("training LightGBM primary with early stopping on %d validation rows...", len(valid_rows))
    names = [str(n) for n in features.get_feature_names_out()]
    booster = fit_primary(
        X[fit_rows], y[fit_rows], X[valid_rows], y[valid_rows], len(classes), features.categorical_indices, names
    )
    raw_valid = booster.predict(X[valid_rows], raw_score=True, num_iteration=booster.best_iteration)
    temperature = fit_temperature(raw_valid, y[valid_rows])
    progress.info(
        "primary: %d rounds, temperature %.3f (%.1fs)", booster.best_iteration, temperature, time.perf_counter() - t0
    )

    progress.info("training fallbacks (naive Bayes, random forest, rules, prior)...")
    prepared = ProductFeatures.prepare(train_aug.drop(columns=LABEL))
    fallbacks = fit_fallbacks(features, prepared, X, train_aug[LABEL].to_numpy(), classes)

    progress.info("computing drift reference...")
    plain_valid = valid_rows[valid_rows < len(train_df)]  # validation rows with all their fields
    val_proba = softmax(raw_valid, temperature)[np.isin(valid_rows, plain_valid)]
    prior = train_df[LABEL].value_counts(normalize=True).reindex(classes, fill_value=0.0)
    reference = build_reference(
        prepared.iloc[: len(train_df)],
        val_proba.max(axis=1),
        val_proba.argmax(axis=1) == y[plain_valid],
        class_prior={str(k): float(v) for k, v in prior.items()},
    )
    bundle = ModelBundle(
        features=features,
        primary=booster.model_to_string(num_iteration=booster.best_iteration),
        fallbacks=fallbacks,
        drift_reference=reference.to_dict(),
        metadata={
            "classes": [str(c) for c in classes],
            "temperature": temperature,
            "best_iteration": booster.best_iteration,
            "feature_names": names,
        },
    )
    return FittedModel(bundle, booster.best_iteration, temperature)


def train(
    data: str,
    registered_model_name: str | None,
    test_size: float = 0.2,
    seed: int = 42,
    synthetic_rows: int = 3000,
    experiment: str = "product-classifier",
) -> str:
    """Run the whole training job; returns the MLflow run id."""
    t0 = time.perf_counter()
    frame, fingerprint = load(data, synthetic_rows)
    train_df, test_df = title_group_split(frame, test_size, seed)
    log.info(
        "data: %d rows, %d categories (train %d, test %d)",
        len(frame),
        frame[LABEL].nunique(),
        len(train_df),
        len(test_df),
    )
    mlflow.set_experiment(experiment)
    with mlflow.start_run() as run:
        mlflow.log_params(
            {
                "data_path": fingerprint.path,
                "data_sha256": fingerprint.sha256,
                "data_rows": fingerprint.rows,
                "test_size": test_size,
                "seed": seed,
                **{f"lgb_{k}": v for k, v in PRIMARY_PARAMS.items()},
            }
        )
        fitted = fit_model(train_df, seed)
        mlflow.log_params({"best_iteration": fitted.best_iteration, "temperature": round(fitted.temperature, 4)})
        train_seconds = time.perf_counter() - t0

        log.info("evaluating on the held-out split...")
        metrics = evaluate(fitted.bundle, train_df, test_df, fitted.bundle.classes)
        metrics["train_seconds"] = train_seconds
        mlflow.log_metrics(metrics)
        for key, value in metrics.items():
            log.info("  %-32s %.4f", key, value)

        log.info(
            "logging the model%s...",
            f" and registering it as '{registered_model_name}'" if registered_model_name else "",
        )
        info = log_bundle(fitted.bundle, test_df.drop(columns=LABEL), registered_model_name)
        mlflow.set_tag("model_uri", info.model_uri)
        if info.registered_model_version:
            log.info("registered %s version %s", registered_model_name, info.registered_model_version)
        log.info("done in %.1fs: run %s, model %s", time.perf_counter() - t0, run.info.run_id, info.model_uri)
        print(f"run_id={run.info.run_id}")
        print(f"model_uri={info.model_uri}")
        if info.registered_model_version:
            print(f"registered_version={info.registered_model_version}")
        return run.info.run_id


def evaluate(
    bundle: ModelBundle, train_df: pd.DataFrame, test_df: pd.DataFrame, classes: np.ndarray
) -> dict[str, float]:
    """Score the assembled model (features, primary, chain) on the test split; log reports and plots."""
    model = ProductClassifierModel()
    model.setup(bundle)
    index = {c: i for i, c in enumerate(classes)}
    test_df = test_df[test_df[LABEL].isin(index)].reset_index(drop=True)
    y = test_df[LABEL].to_numpy()
    metrics: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for suffix, frame in (("", test_df), ("_title_only", title_only(test_df))):
            out = model.predict(None, frame.drop(columns=LABEL))
            proba = np.vstack([[row[str(c)] for c in classes] for row in out["probabilities"]])
            pred = out["category"].to_numpy()
            metrics[f"macro_f1{suffix}"] = macro_f1(y, pred)
            metrics[f"accuracy{suffix}"] = float((pred == y).mean())
            metrics[f"ece{suffix}"] = expected_calibration_error(proba, test_df[LABEL].map(index).to_numpy())
            metrics[f"primary_share{suffix}"] = float((out["model_used"] == "primary").mean())
            mlflow.log_dict(per_class_report(y, pred), f"reports/per_class{suffix or '_all_fields'}.json")
            png = confusion_plot(
                y,
                pred,
                [str(c) for c in classes],
                Path(tmp) / f"confusion{suffix or '_all_fields'}.png",
                f"confusion matrix ({'title only' if suffix else 'all fields'})",
            )
            mlflow.log_artifact(str(png), "plots")
    t = time.perf_counter()
    baseline = fit_title_baseline(train_df["title"], train_df[LABEL])
    metrics["baseline_macro_f1_title_only"] = macro_f1(y, baseline.predict(test_df["title"].fillna("")))
    metrics["baseline_fit_seconds"] = time.perf_counter() - t
    return metrics


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help=f"CSV/Parquet of product listings, or '{SYNTHETIC}'")
    parser.add_argument("--registered-model-name", default=None, help="register the model under this name")
    parser.add_argument("--experiment", default="product-classifier")
    parser.add_argument("--test-size", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--synthetic-rows", type=int, default=3000)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)
    log.info("tracking URI: %s", mlflow.get_tracking_uri())
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    train(args.data, args.registered_model_name, args.test_size, args.seed, args.synthetic_rows, args.experiment)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
