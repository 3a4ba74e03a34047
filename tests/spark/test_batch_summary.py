"""`python -m pyfunc_model.batch_score` reports what it saw: a JSON summary beside the output and on the MLflow run.

The run is the one ``mlflow run`` would hand over through ``MLFLOW_RUN_ID``; the summary's counts
must equal the predictions actually written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from pyfunc_model.observability.batch_summary import SUMMARY_ARTIFACT, SUMMARY_SUFFIX
from tests.serving.model_fixtures import CHAMPION_URI, TrainedModel, drifted_products
from training.synthetic import generate_synthetic_products

pytestmark = [pytest.mark.slow, pytest.mark.spark]


def test_summary_beside_output_and_on_the_run(trained_model: TrainedModel, tmp_path: Path) -> None:
    # in-distribution rows and real marketplace rows (drifted for the synthetic model), one file
    frame = pd.concat(
        [
            generate_synthetic_products(400, seed=3).drop(columns=["category"]),
            drifted_products(400, seed=2),
        ],
        ignore_index=True,
    )
    source, output = tmp_path / "in.csv", tmp_path / "scored"
    frame.to_csv(source, index=False)
    client = MlflowClient(tracking_uri=trained_model.tracking_uri)
    run_id = client.create_run(client.get_experiment_by_name("Default").experiment_id).info.run_id
    env = trained_model.env(with_project_on_path=True)
    env["MLFLOW_RUN_ID"] = run_id
    cmd = [sys.executable, "-m", "pyfunc_model.batch_score", "--model-uri", CHAMPION_URI, "--master", "local[2]"]
    cmd += ["--input", str(source), "--output", str(output), "--params", '{"on_drift": "fallback"}']
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-5000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["mlflow_run_id"] == run_id and report["summary"] == f"{output}{SUMMARY_SUFFIX}"

    summary = json.loads(Path(report["summary"]).read_text())
    scored = pd.read_parquet(output)
    predictions = pd.DataFrame(scored["prediction"].tolist())
    assert summary["rows"] == len(frame) == len(predictions)
    assert summary["rows_by_model_used"] == predictions["model_used"].value_counts().to_dict()
    assert summary["drift_rows"] == int(predictions["drift_detected"].sum()) > 0
    drift_reasons = predictions["fallback_reason"].str.startswith("drift:")
    assert summary["rows_rerouted_by_reason"].get("drift", 0) == int(drift_reasons.sum()) > 0
    assert set(summary["rows_rerouted_for_drift_by_input"]) <= set(frame.columns)
    assert summary["fallback_share"] == pytest.approx((predictions["model_used"] != "primary").mean(), abs=1e-6)

    mlflow.set_tracking_uri(trained_model.tracking_uri)
    logged = mlflow.artifacts.load_dict(f"runs:/{run_id}/{SUMMARY_ARTIFACT}")
    assert {k: logged[k] for k in summary} == summary and logged["model_uri"] == CHAMPION_URI
    assert client.get_run(run_id).data.metrics["batch_rows"] == len(frame)
