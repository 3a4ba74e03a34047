"""Shadow replay: captured traffic scored by a candidate beside the champion, and the gate on it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient

from pyfunc_model.capture import settings as cs
from pyfunc_model.capture.read import read_capture
from registry_scripts.__main__ import main as registry_main
from registry_scripts.shadow import compare, render_html, render_markdown, replay_inputs
from tests.serving.model_fixtures import CHAMPION_URI, TrainedModel, sample_products


def _out(categories: list[str], confidence: list[float], review: list[bool], used: str = "primary") -> pd.DataFrame:
    return pd.DataFrame({"category": categories, "confidence": confidence, "needs_review": review, "model_used": used})


def test_compare_counts_agreement_per_class_and_on_accepted_rows() -> None:
    inputs = pd.DataFrame({"title": ["a", "b", "c", "d", "e"]})
    champion = _out(
        ["toys", "toys", "toys", "books", "books"], [0.9, 0.8, 0.4, 0.95, 0.5], [False, False, True, False, True]
    )
    candidate = _out(
        ["toys", "books", "books", "books", "toys"], [0.7, 0.6, 0.5, 0.9, 0.6], [False, True, True, False, False]
    )
    report = compare(champion, candidate, inputs)
    assert report.rows == 5 and report.agreement == pytest.approx(2 / 5)
    assert report.accepted_rows == 3 and report.accepted_agreement == pytest.approx(2 / 3)  # rows a, b, d
    assert report.per_class.loc["toys", "rows"] == 3 and report.per_class.loc["toys", "agreement"] == pytest.approx(
        1 / 3
    )
    assert report.per_class.loc["books", "agreement"] == pytest.approx(1 / 2)
    top = report.disagreements.iloc[0]
    assert (top.champion, top.candidate, top.rows, top.examples) == ("toys", "books", 2, ["b", "c"])
    assert report.models.loc["champion", "needs_review_share"] == pytest.approx(2 / 5)
    assert report.models.loc["candidate", "needs_review_share"] == pytest.approx(2 / 5)
    assert report.models.loc["candidate", "mean_confidence"] == pytest.approx(0.66)
    metrics = report.metrics()
    assert metrics["shadow_agreement"] == pytest.approx(0.4) and metrics["shadow_champion_answered_by_primary"] == 1.0
    text = render_markdown(report, "shadow")
    assert "| toys | books | 2 | b \\| c |" in text
    assert "<td>toys</td><td>books</td><td>2</td>" in render_html(report, "<x>") and "&lt;x&gt;" in render_html(
        report, "<x>"
    )


def test_compare_refuses_outputs_of_other_lengths() -> None:
    with pytest.raises(ValueError, match="row counts differ"):
        compare(
            _out(["a"], [1.0], [False]), _out(["a", "b"], [1.0, 1.0], [False, False]), pd.DataFrame({"title": ["x"]})
        )


def test_replay_inputs_keep_capture_order_and_nulls() -> None:
    captured = pd.DataFrame(
        {"title": ["t1", "t2"], "price": [1.0, float("nan")], "category": ["x", "y"], "request_id": ["r", "r"]}
    )
    inputs = replay_inputs(captured)
    assert list(inputs.columns) == ["title", "price"] and inputs["title"].tolist() == ["t1", "t2"]
    assert inputs["price"].tolist() == [1.0, None]


@pytest.fixture(scope="module")
def captured_traffic(trained_model: TrainedModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A capture written by the champion loaded in this process (3 requests of 100 rows)."""
    folder = tmp_path_factory.mktemp("shadow") / "capture"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(cs.ENV_URI, str(folder))
        mlflow.set_tracking_uri(trained_model.tracking_uri)
        model = mlflow.pyfunc.load_model(CHAMPION_URI)
        rows = sample_products(300, seed=11, source="synthetic")
        for lo in range(0, 300, 100):
            model.predict(rows.iloc[lo : lo + 100].reset_index(drop=True))
        assert model.unwrap_python_model().capture.close()
    return folder


@pytest.fixture(scope="module")
def second_version(trained_model: TrainedModel) -> str:
    """The champion's model registered again: a candidate that must agree with it on every row."""
    client = MlflowClient(tracking_uri=trained_model.tracking_uri, registry_uri=trained_model.tracking_uri)
    champion = client.get_model_version(trained_model.name, trained_model.version)
    return str(client.create_model_version(trained_model.name, champion.source, run_id=champion.run_id).version)


@pytest.mark.slow
def test_shadow_command_reports_and_logs_a_replay(
    trained_model: TrainedModel, captured_traffic: Path, second_version: str, tmp_path: Path
) -> None:
    out = tmp_path / "report"
    cmd = [sys.executable, "-m", "registry_scripts", "shadow", "--registered-model-name", trained_model.name]
    cmd += ["--candidate", second_version, "--capture", str(captured_traffic), "--out", str(out)]
    # a shell still set up to capture: the replay must not join the capture it replays
    env = trained_model.env(with_project_on_path=True) | {cs.ENV_URI: str(captured_traffic)}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    markdown = (out / "shadow.md").read_text()
    assert "| agreement | 100.0 % |" in markdown and "| rows replayed | 300 |" in markdown
    assert "<table>" in (out / "shadow.html").read_text()
    client = MlflowClient(tracking_uri=trained_model.tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name("shadow").experiment_id])
    metrics, params = runs[0].data.metrics, runs[0].data.params
    assert metrics["shadow_rows"] == 300 and metrics["shadow_agreement"] == 1.0
    assert params["candidate_version"] == second_version and params["champion_version"] == trained_model.version
    captured = read_capture(str(captured_traffic))
    assert metrics["shadow_champion_needs_review_share"] == pytest.approx(captured["needs_review"].mean())
    assert len(captured) == 300  # the process exited (capture flushes at exit): nothing was added


@pytest.mark.slow
def test_gate_bounds_agreement_on_captured_traffic(
    trained_model: TrainedModel, captured_traffic: Path, second_version: str, monkeypatch, capsys
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained_model.tracking_uri)
    base = ["gate", "--registered-model-name", trained_model.name, "--candidate", second_version]
    base += ["--capture", str(captured_traffic), "--max-latency-ratio", "100"]
    assert registry_main(base) == 0
    assert "shadow: agreement on captured rows" in capsys.readouterr().out
    assert registry_main([*base, "--min-agreement", "1.01"]) == 1  # no model can agree on more than every row
    assert "GATE REFUSED" in capsys.readouterr().out
