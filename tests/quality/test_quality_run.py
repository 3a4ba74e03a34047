"""A training run with ``--cv``: folds, per-split table, summary metrics, plots and every hyperparameter logged."""

from __future__ import annotations

from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from features.text import normalize_title
from training.baseline import BASELINES
from training.cv import CV_METRICS, TUNED_SVC, held_out_folds, title_group_folds
from training.data import title_group_split
from training.synthetic import generate_synthetic_products
from training.train import main
from training.tuned_baseline import C_GRID, MIN_DF_GRID


def test_title_group_folds_test_every_row_once_and_never_split_a_title():
    frame = generate_synthetic_products(600, seed=2)
    frame = pd.concat([frame, frame.head(50)], ignore_index=True)  # repeated listings
    folds = title_group_folds(frame, 5, seed=0)
    tested = np.concatenate([te for _, te in folds])
    assert sorted(tested.tolist()) == list(range(len(frame)))
    titles = normalize_title(frame["title"])
    for train_idx, test_idx in folds:
        assert not set(titles.iloc[train_idx]) & set(titles.iloc[test_idx])


def test_fold_0_is_the_held_out_split_and_the_folds_test_every_listing_once():
    frame = generate_synthetic_products(600, seed=3)
    frame = pd.concat([frame, frame.head(50)], ignore_index=True)  # repeated listings
    train, test = title_group_split(frame, 0.2, seed=1)
    parts = held_out_folds(train, test, 4, seed=0)
    assert len(parts) == 4 and parts[0][0] is train and parts[0][1] is test
    key = ["title", "category", "subcategory", "price"]
    tested = pd.concat([te for _, te in parts], ignore_index=True)[key]
    pd.testing.assert_frame_equal(
        tested.sort_values(key, ignore_index=True), frame[key].sort_values(key, ignore_index=True)
    )
    for tr, te in parts:
        assert len(tr) + len(te) == len(frame)
        assert not set(normalize_title(tr["title"])) & set(normalize_title(te["title"]))
    with pytest.raises(ValueError, match="at least 3 folds"):
        held_out_folds(train, test, 2, seed=0)


@pytest.fixture(scope="module")
def cv_run(tmp_path_factory: pytest.TempPathFactory) -> mlflow.entities.Run:
    """``python -m training.train --data synthetic --cv 3`` on 900 rows, into its own SQLite store."""
    workdir = tmp_path_factory.mktemp("cv-run")
    uri = f"sqlite:///{workdir / 'mlflow.db'}"
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    with pytest.MonkeyPatch.context() as env:
        env.chdir(workdir)
        env.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
        env.setenv("MLFLOW_TRACKING_URI", uri)
        main(["--data", "synthetic", "--synthetic-rows", "900", "--cv", "3", "--experiment", "cv-test"])
        run = mlflow.search_runs(experiment_names=["cv-test"], output_format="list")[0]
    mlflow.set_tracking_uri(previous)
    return run, uri


@pytest.mark.slow
def test_cv_logs_mean_and_sd_of_every_headline_metric(cv_run):
    run, _ = cv_run
    for metric in CV_METRICS:
        assert f"cv_{metric}_mean" in run.data.metrics and f"cv_{metric}_sd" in run.data.metrics, metric
    m = run.data.metrics
    assert 0.5 < m["cv_macro_f1_title_only_mean"] <= 1.0
    assert m["cv_macro_f1_title_only_sd"] >= 0.0
    assert run.data.params["cv_folds"] == "3"
    assert run.data.params["cv_strongest_baseline"] in {*BASELINES, TUNED_SVC}


@pytest.mark.slow
def test_cv_table_has_one_row_per_split_and_is_consistent_with_the_summary(cv_run, tmp_path):
    run, uri = cv_run
    mlflow.set_tracking_uri(uri)
    run_id = run.info.run_id
    local = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="cv", dst_path=str(tmp_path)))
    table = pd.read_csv(local / "cv_splits.csv")
    assert table["split"].tolist() == [0, 1, 2]
    assert table["test_rows"].sum() == 900
    best = run.data.params["cv_strongest_baseline"]
    np.testing.assert_allclose(table["baseline_macro_f1_title_only"], table[f"baseline_{best}_macro_f1_title_only"])
    for name in ("macro_f1_title_only", "ece"):
        assert table[name].mean() == pytest.approx(run.data.metrics[f"cv_{name}_mean"])
        assert table[name].std(ddof=1) == pytest.approx(run.data.metrics[f"cv_{name}_sd"])
    # the calibrated LinearSVC's threshold is chosen by the primary's rule on its own held-back rows
    np.testing.assert_allclose(
        table["review_coverage_margin_title_only"],
        table["review_coverage_title_only"] - table["calibrated_svc_review_coverage_title_only"],
    )
    assert table["calibrated_svc_review_threshold_title_only"].between(0, 1).all()
    # each fold's tuned LinearSVC chose its setting from the grid, on the fold's training rows
    assert table["baseline_tuned_C"].isin(C_GRID).all() and table["baseline_tuned_min_df"].isin(MIN_DF_GRID).all()
    assert table[f"baseline_{TUNED_SVC}_macro_f1_title_only"].between(0, 1).all()
    assert run.data.metrics["cv_review_coverage_margin_title_only_min"] == pytest.approx(
        table["review_coverage_margin_title_only"].min()
    )
    markdown = (local / "cv_splits.md").read_text()
    assert "mean +- sd" in markdown and "\n| 0 | " in markdown
    # fold 0 is the held-out split: its row is the final model and the run's bars
    held_out = table.iloc[0]
    for key in ("macro_f1", "macro_f1_title_only", "ece_title_only", "review_coverage_title_only"):
        assert held_out[key] == pytest.approx(run.data.metrics[key]), key
    assert held_out[f"baseline_{TUNED_SVC}_macro_f1_title_only"] == pytest.approx(
        run.data.metrics["baseline_macro_f1_title_only"]
    )
    assert held_out["test_rows"] == run.data.metrics["eval_rows"]


@pytest.mark.slow
def test_run_logs_every_hyperparameter_the_threshold_and_the_plots(cv_run):
    run, uri = cv_run
    params, metrics = run.data.params, run.data.metrics
    for key in (
        "features.subcategory_shares.cv",
        "features.subcategory_shares.smoothing",
        "features.text.LinearSVC.C",
        "features.text.ComplementNB.alpha",
        "features.text.tfidf.max_features",
        "features.hashing.n_buckets",
        "lgb.num_leaves",
        "lgb.max_rounds",
        "fallback.random_forest.n_estimators",
        "calibration.temperature_bounds",
        "baseline_tuned.C",
        "baseline_tuned.min_df",
    ):
        assert key in params, key
    assert 0.0 < metrics["review_threshold"] <= 1.0
    inner = {k: v for k, v in metrics.items() if k.startswith("baseline_tuned_inner_macro_f1_")}
    assert len(inner) == len(C_GRID) * len(MIN_DF_GRID)
    C, min_df = float(params["baseline_tuned.C"]), params["baseline_tuned.min_df"]
    assert metrics[f"baseline_tuned_inner_macro_f1_C_{C:g}_min_df_{min_df}"] == max(inner.values())
    coverages = ["review_coverage_title_only", "review_precision_title_only"]
    coverages.append("calibrated_svc_coverage_at_98_title_only")
    for key in coverages:
        assert 0.0 <= metrics[key] <= 1.0
    client = mlflow.MlflowClient(uri)
    plots = {Path(f.path).name for f in client.list_artifacts(run.info.run_id, "plots")}
    assert {"reliability.png", "per_class_f1.png", "confusion_title_only.png", "confusion_all_fields.png"} <= plots
