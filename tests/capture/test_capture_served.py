"""Capture under `mlflow models serve --workers 2`, stopped with SIGTERM in the middle of traffic:
every answered row is in the capture exactly once, with the answer the client got; the capture
then feeds the review export."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest
import requests

from pyfunc_model.capture.read import read_capture
from pyfunc_model.capture.settings import ENV_FLUSH_SECONDS, ENV_URI
from tests.serving.model_fixtures import (
    CHAMPION_URI,
    ROOT,
    TrainedModel,
    drifted_products,
    model_server,
    sample_products,
)
from tests.stack.servers import S3_CREDENTIALS

CLIENTS = 4
TRAFFIC_BEFORE_STOP_S = 4.0


def _client(url: str, rows: list[dict], offset: int, answered: dict[str, str], stop: threading.Event) -> None:
    """Send 1-3 row requests until the server goes; keep the title -> category of every 200 answer.

    One connection per request, so the kernel spreads them over both workers."""
    session = requests.Session()
    i = offset
    while not stop.is_set():
        batch = [
            rows[(i + k) % len(rows)] | {"title": f"{rows[(i + k) % len(rows)]['title']} {uuid.uuid4().hex}"}
            for k in range(1 + i % 3)
        ]
        i += len(batch)
        try:
            reply = session.post(
                f"{url}/invocations", json={"dataframe_records": batch}, headers={"Connection": "close"}, timeout=30
            )
        except requests.RequestException:
            return  # the server is gone
        if reply.status_code != 200:
            return
        for sent, got in zip(batch, reply.json()["predictions"], strict=True):
            answered[sent["title"]] = got["category"]


def _serve_and_stop(trained_model: TrainedModel, env: dict[str, str]) -> dict[str, str]:
    """Answers of a two-worker server that receives SIGTERM while clients are sending."""
    # in-distribution rows, and rows far from the training data: some answers need review
    traffic = pd.concat([sample_products(300, source="synthetic"), drifted_products(100, seed=1)], ignore_index=True)
    rows = traffic.astype(object).where(lambda f: f.notna(), None).to_dict("records")
    answers: list[dict[str, str]] = [{} for _ in range(CLIENTS)]
    stop = threading.Event()
    with model_server(CHAMPION_URI, env, trained_model.workdir, workers=2) as server:
        threads = [
            threading.Thread(target=_client, args=(server.url, rows, 97 * c, answers[c], stop)) for c in range(CLIENTS)
        ]
        for t in threads:
            t.start()
        time.sleep(TRAFFIC_BEFORE_STOP_S)
        os.killpg(server.proc.pid, signal.SIGTERM)
        server.proc.wait(timeout=60)
        stop.set()
        for t in threads:
            t.join(timeout=60)
    return {title: category for part in answers for title, category in part.items()}


def _check(captured, answered: dict[str, str]) -> None:
    counts = Counter(captured["title"])
    assert len(answered) > 100, "too little traffic to judge"
    missing = [t for t in answered if t not in counts]
    assert not missing, f"{len(missing)} of {len(answered)} answered rows not captured, e.g. {missing[:3]}"
    duplicated = [t for t, c in counts.items() if c > 1]
    assert not duplicated, f"{len(duplicated)} rows captured twice, e.g. {duplicated[:3]}"
    by_title = dict(zip(captured["title"], captured["category"], strict=True))
    assert all(by_title[t] == c for t, c in answered.items()), "a captured answer differs from the one sent"
    assert captured["worker"].nunique() == 2, f"workers seen: {captured['worker'].unique()}"
    assert captured["request_id"].notna().all() and (captured["model_version"] != "").all()


@pytest.fixture(scope="module")
def served_capture(trained_model: TrainedModel, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A folder capture of a two-worker server stopped by SIGTERM, and the answers clients got."""
    folder = tmp_path_factory.mktemp("served") / "capture"
    env = trained_model.env() | {ENV_URI: str(folder), ENV_FLUSH_SECONDS: "1"}
    return folder, _serve_and_stop(trained_model, env)


@pytest.mark.slow
@pytest.mark.server
def test_folder_capture_survives_sigterm_with_two_workers(served_capture, trained_model: TrainedModel) -> None:
    folder, answered = served_capture
    captured = read_capture(str(folder))
    _check(captured, answered)
    assert set(captured["model_version"]) == {trained_model.version}
    parts = {p.relative_to(folder).parts[:2] for p in folder.rglob("*.parquet")}
    assert {v for _, v in parts} == {f"model_version={trained_model.version}"}
    assert all(d.startswith("date=20") for d, _ in parts)


@pytest.mark.slow
@pytest.mark.server
def test_s3_capture_survives_sigterm_with_two_workers(
    trained_model: TrainedModel, s3_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = s3_server.create_bucket(f"capture-{uuid.uuid4().hex[:8]}")
    uri = f"s3://{bucket}/traffic"
    # a long flush interval: everything still buffered when SIGTERM comes must be written by it
    env = trained_model.env() | s3_server.client_env() | {ENV_URI: uri, ENV_FLUSH_SECONDS: "600"}
    answered = _serve_and_stop(trained_model, env)
    for key, value in S3_CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    _check(read_capture(uri, s3_endpoint=s3_server.endpoint), answered)


@pytest.mark.slow
@pytest.mark.server
def test_review_export_of_served_traffic(served_capture, tmp_path: Path) -> None:
    folder, _ = served_capture
    out = tmp_path / "review.csv"
    cmd = [sys.executable, "-m", "registry_scripts", "review-export", "--capture", str(folder), "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=os.environ | {"PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    review = pd.read_csv(out, keep_default_na=False)
    captured = read_capture(str(folder))
    flagged = captured[captured["needs_review"]]
    assert len(flagged) > 0, "the traffic had no row needing review"
    assert len(review) == flagged["title"].nunique()  # every title is distinct in this traffic
    assert set(review["title"]) == set(flagged["title"]) and (review["label"] == "").all()
    assert (review["alternative_1"] == review["predicted_category"]).all()
    probs = review[["alternative_1_probability", "alternative_2_probability", "alternative_3_probability"]]
    assert (probs.diff(axis=1).iloc[:, 1:] <= 0).all().all()


@pytest.mark.slow
@pytest.mark.server
def test_drift_report_over_served_traffic(
    served_capture, trained_model: TrainedModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow

    from training.drift_report import run

    folder, answered = served_capture
    monkeypatch.setenv("MLFLOW_TRACKING_URI", trained_model.tracking_uri)
    mlflow.set_tracking_uri(trained_model.tracking_uri)
    report = run(None, str(folder), str(tmp_path / "out"), chunk_rows=50)
    assert report["model_uri"] == f"models:/{trained_model.name}/{trained_model.version}"
    groups = report["groups"]  # one per UTC day (two if the traffic crossed midnight) and version
    assert {g["model_version"] for g in groups} == {trained_model.version} and len(groups) <= 2
    assert sum(g["rows"] for g in groups) == report["rows"] >= len(answered)
    assert max(g["workers"] for g in groups) == 2 or len(groups) == 2
    assert "by day and model version" in (tmp_path / "out" / "drift_report.html").read_text()


@pytest.mark.slow
@pytest.mark.server
def test_review_export_explains_each_row(served_capture, trained_model: TrainedModel, tmp_path: Path) -> None:
    folder, _ = served_capture
    out = tmp_path / "review.csv"
    cmd = [sys.executable, "-m", "registry_scripts", "review-export", "--capture", str(folder), "--out", str(out)]
    env = trained_model.env(with_project_on_path=True)
    proc = subprocess.run([*cmd, "--explain"], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    review = pd.read_csv(out, keep_default_na=False)
    assert len(review) > 0
    for row in review.itertuples():
        why = json.loads(row.explanation)
        assert why["category"] == row.predicted_category  # the same model explains the answer it gave
        assert why["title_words"] and all(word in row.title.split() for word, _ in why["title_words"])
