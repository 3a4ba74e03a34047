"""Capture in-process: settings refused with the variable named, the rows and their layout, the
bounded buffer, hashing and dropping, and an unreachable S3 that never fails a request."""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

import mlflow
import pytest

from pyfunc_model.capture import NO_CAPTURE, CaptureSettings, open_capture
from pyfunc_model.capture import settings as cs
from pyfunc_model.capture.read import read_capture
from pyfunc_model.capture.store import FolderStore
from pyfunc_model.capture.writer import InferenceCapture
from pyfunc_model.output import OUTPUT_COLUMNS
from tests.small_model import SmallModel, small_model

IDENTITY = {"registered_model_name": "product-classifier", "version": "7", "run_id": "abc"}


@pytest.fixture(scope="module")
def logged_model(tmp_path_factory: pytest.TempPathFactory) -> SmallModel:
    return small_model(tmp_path_factory.getbasetemp() / "small-model")


@pytest.fixture()
def frames(logged_model: SmallModel):
    """A request of 20 real rows and the model's answer to it."""
    rows = logged_model.test_frame.drop(columns=["category"], errors="ignore").head(20).reset_index(drop=True)
    return rows, logged_model.in_memory.predict(None, rows)


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({cs.ENV_SAMPLE: "1.5"}, cs.ENV_SAMPLE),
        ({cs.ENV_SAMPLE: "half"}, cs.ENV_SAMPLE),
        ({cs.ENV_BUFFER_ROWS: "10"}, cs.ENV_BUFFER_ROWS),
        ({cs.ENV_BUFFER_ROWS: "1e5"}, cs.ENV_BUFFER_ROWS),
        ({cs.ENV_FLUSH_SECONDS: "0"}, cs.ENV_FLUSH_SECONDS),
        ({cs.ENV_DROP: "title,password"}, cs.ENV_DROP),
        ({cs.ENV_DROP: "seller_id", cs.ENV_HASH: "seller_id"}, cs.ENV_HASH),
        ({cs.ENV_URI: "ftp://host/x"}, cs.ENV_URI),
        ({cs.ENV_URI: "s3:///prefix"}, cs.ENV_URI),
        ({cs.ENV_URI: "/proc/capture"}, cs.ENV_URI),
    ],
)
def test_bad_setting_names_its_variable(env: dict[str, str], variable: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=variable):
        CaptureSettings.from_env({cs.ENV_URI: str(tmp_path)} | env)


def test_off_without_uri() -> None:
    assert open_capture({}, environ={cs.ENV_SAMPLE: "0.5"}) is NO_CAPTURE


def test_bad_setting_fails_the_model_load(
    logged_model: SmallModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(cs.ENV_URI, str(tmp_path))
    monkeypatch.setenv(cs.ENV_BUFFER_ROWS, "lots")
    mlflow.set_tracking_uri(logged_model.tracking_uri)
    with pytest.raises(ValueError, match=cs.ENV_BUFFER_ROWS):
        mlflow.pyfunc.load_model(logged_model.model_uri)


def test_loaded_model_captures_inputs_outputs_and_identity(
    logged_model: SmallModel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(cs.ENV_URI, str(tmp_path / "cap"))
    monkeypatch.setenv(cs.ENV_HASH, "seller_id")
    monkeypatch.setenv(cs.ENV_DROP, "rating")
    mlflow.set_tracking_uri(logged_model.tracking_uri)
    model = mlflow.pyfunc.load_model(logged_model.model_uri)
    rows = logged_model.test_frame.drop(columns=["category"], errors="ignore").head(30).reset_index(drop=True)
    rows["seller_id"] = "seller-42"
    answers = [model.predict(rows.iloc[i : i + 10]) for i in range(0, 30, 10)]
    capture = model.unwrap_python_model().capture
    assert capture.close()
    got = read_capture(str(tmp_path / "cap"))
    assert len(got) == 30 and got["request_id"].nunique() == 3
    assert got["title"].tolist() == rows["title"].tolist()
    assert set(OUTPUT_COLUMNS) <= set(got.columns) and "rating" not in got.columns
    assert got["seller_id"].str.fullmatch("[0-9a-f]{64}").all() and got["seller_id"].nunique() == 1
    expected = [c for a in answers for c in a["category"]]
    assert got["category"].tolist() == expected
    assert got["probabilities"].iloc[0] == pytest.approx(answers[0]["probabilities"].iloc[0])
    assert got["row"].tolist() == list(range(10)) * 3
    assert got["run_id"].notna().all() and got["worker"].str.contains(":").all()
    assert str(got["captured_at"].dt.tz) == "UTC"


def test_full_buffer_drops_and_counts_rows(frames, tmp_path: Path) -> None:
    rows, out = frames
    settings = CaptureSettings(uri=str(tmp_path), buffer_rows=100, flush_seconds=3600)
    capture = InferenceCapture(settings, FolderStore(tmp_path), IDENTITY)
    for _ in range(8):  # 160 rows into a 100-row buffer: the writer is asked at half, may not have run yet
        capture.record(rows, out)
    assert capture.buffered_rows <= 100
    capture.close()
    dropped = capture.rows_dropped["buffer_full"]
    assert capture.rows_written + dropped == 160 and dropped % 20 == 0
    assert len(read_capture(str(tmp_path))) == capture.rows_written


def test_burst_memory_is_bounded_by_the_buffer(frames, tmp_path: Path) -> None:
    rows, out = frames
    store = FolderStore(tmp_path)
    slow = type("Slow", (), {"uri": store.uri, "put": lambda self, k, d: (time.sleep(0.2), store.put(k, d))})()
    capture = InferenceCapture(CaptureSettings(uri=str(tmp_path), buffer_rows=200), slow, IDENTITY)
    peak = 0
    for _ in range(100):  # a burst of 2000 rows against a slow store
        capture.record(rows, out)
        peak = max(peak, capture.buffered_rows)
    assert peak <= 200
    capture.close(timeout=30)
    assert capture.rows_dropped["buffer_full"] > 0
    assert capture.rows_written + capture.rows_dropped["buffer_full"] == 2000


def test_sample_share_keeps_whole_requests(frames, tmp_path: Path) -> None:
    rows, out = frames
    capture = InferenceCapture(CaptureSettings(uri=str(tmp_path), sample=0.25), FolderStore(tmp_path), IDENTITY)
    for _ in range(200):
        capture.record(rows.head(2), out.head(2))
    capture.close()
    got = read_capture(str(tmp_path))
    assert 20 <= got["request_id"].nunique() <= 80 and (got.groupby("request_id").size() == 2).all()


def test_unreachable_s3_never_fails_or_slows_a_request(logged_model: SmallModel, frames, monkeypatch) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv(cs.ENV_URI, "s3://capture/traffic")
    monkeypatch.setenv(cs.ENV_S3_ENDPOINT, f"http://127.0.0.1:{port}")
    monkeypatch.setenv(cs.ENV_FLUSH_SECONDS, "0.05")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    mlflow.set_tracking_uri(logged_model.tracking_uri)
    model = mlflow.pyfunc.load_model(logged_model.model_uri)
    rows, expected = frames
    start = time.perf_counter()
    for _ in range(20):
        assert model.predict(rows)["category"].tolist() == expected["category"].tolist()
    assert time.perf_counter() - start < 10
    capture = model.unwrap_python_model().capture
    capture.close(timeout=1)
    assert capture.rows_written == 0 and capture.rows_dropped["write_failed"] > 0


def test_folder_files_are_partitioned_by_day_and_version(frames, tmp_path: Path) -> None:
    rows, out = frames
    capture = InferenceCapture(CaptureSettings(uri=str(tmp_path)), FolderStore(tmp_path), IDENTITY)
    capture.record(rows, out)
    capture.close()
    (file,) = tmp_path.rglob("*.parquet")
    day, version = file.relative_to(tmp_path).parts[:2]
    assert day == f"date={time.strftime('%Y-%m-%d', time.gmtime())}" and version == "model_version=7"
    shutil.rmtree(tmp_path)


def test_review_export_of_a_capture_with_nothing_to_review_is_empty(frames, tmp_path: Path) -> None:
    from registry_scripts.review_export import review_rows

    rows, out = frames
    capture = InferenceCapture(CaptureSettings(uri=str(tmp_path)), FolderStore(tmp_path), IDENTITY)
    capture.record(rows, out)
    capture.close()
    captured = read_capture(str(tmp_path))
    flagged = review_rows(captured)
    assert len(flagged) == int(captured["needs_review"].sum())
    captured["needs_review"] = False
    nothing = review_rows(captured)
    assert nothing.empty and list(nothing.columns) == list(flagged.columns)
