"""End to end: a freshly trained (synthetic) model -> drift report files + an MLflow run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.mark.slow
def test_drift_report_from_a_logged_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow

    from training.drift_report import run
    from training.synthetic import generate_synthetic_products
    from training.train import train

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run_id = train("synthetic", None, synthetic_rows=1500)
    data = tmp_path / "new.csv"
    fresh = generate_synthetic_products(600, seed=3)
    fresh["price"] = fresh["price"] * 3  # a shift the report must show
    fresh.to_csv(data, index=False)

    report = run(f"runs:/{run_id}/model", str(data), str(tmp_path / "out"), chunk_rows=200)

    summary = json.loads((tmp_path / "out" / "drift_summary.json").read_text())
    page = (tmp_path / "out" / "drift_report.html").read_text()
    assert summary["overall"]["drifted"] and "price" in summary["overall"]["drifted_features"]
    assert page.count("data:image/png;base64,") >= 5
    artifacts = {f.path for f in mlflow.MlflowClient().list_artifacts(report["run_id"], "drift_report")}
    assert artifacts == {"drift_report/drift_report.html", "drift_report/drift_summary.json"}
