"""The observability parts that need no server: label bounds, multiprocess files, JSON records.

Worker processes are real child interpreters writing real prometheus_client files.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pyfunc_model.observability import labels, logs
from pyfunc_model.observability.metrics import (
    DIR_PREFIX,
    METRICS_PORT_ENV,
    MULTIPROC_ENV,
    PIDS_DIR,
    _LiveWorkersCollector,
    metrics_port,
    prepare_multiproc_dir,
    server_start_key,
)
from tests.serving.model_fixtures import CHAMPION_URI, TrainedModel

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("reason", "label"),
    [
        ("drift:brand,price,title", "drift"),
        ("primary_error:LightGBMError", "primary_error"),
        ("primary_unavailable", "primary_unavailable"),
        ("ood:title_empty", "ood_title_empty"),
        ("ood:a_reason_added_later", "ood"),
        ("naive_bayes_low_confidence", "naive_bayes_low_confidence"),
        ("rules_error:KeyError", "rules_error"),
        ("free text from somewhere: Samsung TV", "other"),
    ],
)
def test_reasons_map_to_a_fixed_label_set(reason: str, label: str) -> None:
    assert labels.reason_label(reason) == label and label in labels.REASONS


def test_stale_directories_of_gone_servers_are_removed(tmp_path: Path) -> None:
    # this process's group, keyed with its leader's start time and as if its leader had exited
    alive = [server_start_key(), f"{os.getpgrp()}-0"]
    gone = ["999999999-1", "999999999-0"]  # no such process group
    for key in alive + gone:
        (tmp_path / f"{DIR_PREFIX}{key}").mkdir(exist_ok=True)
        (tmp_path / f"{DIR_PREFIX}{key}" / "counter_1.db").write_bytes(b"x")
    unrelated = tmp_path / "someone-elses-dir"
    unrelated.mkdir()
    new = prepare_multiproc_dir(tmp_path, "424242-7")
    assert new.is_dir() and not list(new.iterdir())
    assert all((tmp_path / f"{DIR_PREFIX}{key}").is_dir() for key in alive) and unrelated.is_dir()
    assert not any((tmp_path / f"{DIR_PREFIX}{key}").exists() for key in gone)


WORKER = """
import os, sys
from pathlib import Path
from pyfunc_model.observability.metrics import ServingMetrics
m = ServingMetrics(Path(sys.argv[1]), port=0, addr="127.0.0.1")  # recording only, no exposition
m.request("answered", 0.01, 7)
m.rows_scored({"primary": 5, "rules": 2}, {"drift:price": 2})
m.drift_checked("batch", True, 0.9, ["price"], False, 0.81, 0.77)
if sys.argv[2] == "crash":
    os._exit(0)  # no atexit: as a worker killed by the OOM killer
"""


def test_dead_workers_keep_their_counts_but_not_their_gauges(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop(MULTIPROC_ENV, None)
    for how in ("exit", "crash"):  # one worker exits normally, one dies without running atexit
        subprocess.run([sys.executable, "-c", WORKER, str(tmp_path), how], env=env, check=True, timeout=120)
    assert len(list((tmp_path / PIDS_DIR).iterdir())) == 1, "the crashed worker is still registered"
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in _LiveWorkersCollector(tmp_path).collect()
        for s in family.samples
    }
    assert samples[("product_classifier_rows_scored_total", (("model_used", "primary"),))] == 10
    assert samples[("product_classifier_rows_rerouted_total", (("reason", "drift"),))] == 4
    assert samples[("product_classifier_requests_total", (("outcome", "answered"),))] == 2
    assert not [k for k in samples if k[0].startswith(("product_classifier_drift", "product_classifier_estimated"))]
    assert not list((tmp_path / PIDS_DIR).iterdir())


IMPORTED_FIRST = """
import prometheus_client  # the host imported it before the multiprocess folder was known
from pyfunc_model.observability.metrics import serving_metrics
assert serving_metrics() is None
print("disabled")
"""


def test_metrics_refuse_a_prometheus_client_imported_without_the_folder(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), METRICS_PORT_ENV: "59464"}
    env.pop(MULTIPROC_ENV, None)
    proc = subprocess.run(
        [sys.executable, "-c", IMPORTED_FIRST], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "disabled", proc.stderr[-3000:]
    assert "imported before" in proc.stderr and MULTIPROC_ENV in proc.stderr


def test_metrics_port_must_be_a_port(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(METRICS_PORT_ENV, raising=False)
    assert metrics_port() is None
    monkeypatch.setenv(METRICS_PORT_ENV, "9464")
    assert metrics_port() == 9464
    monkeypatch.setenv(METRICS_PORT_ENV, "http://x")
    with pytest.raises(ValueError, match=METRICS_PORT_ENV):
        metrics_port()


def _failing(value: str) -> ValueError:
    try:
        raise ValueError(f"could not parse {value!r}")
    except ValueError as exc:
        return exc


def test_failures_are_rate_limited_json_with_traceback_but_without_the_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    reporter = logs.FailureReporter(interval_s=0.2)
    caplog.set_level(logging.ERROR, logger=logs.LOGGER_NAME)
    exc = _failing("Samsung Galaxy S24 Ultra")
    assert [reporter.report("primary", exc) for _ in range(3)] == [True, False, False]
    time.sleep(0.25)
    assert reporter.report("primary", exc)
    assert reporter.report("rules", exc)  # another component has its own budget
    records = [json.loads(logs.JsonLinesFormatter().format(r)) for r in caplog.records]
    assert [(r["event"], r["component"], r["suppressed_since_last"]) for r in records] == [
        ("component_failed", "primary", 0),
        ("component_failed", "primary", 2),
        ("component_failed", "rules", 0),
    ]
    assert "_failing" in records[0]["traceback"] and "ValueError" in records[0]["traceback"]
    assert "Samsung" not in json.dumps(records)


NO_METRICS = """
import sys, mlflow
m = mlflow.pyfunc.load_model(sys.argv[1])
import pandas as pd
m.predict(pd.DataFrame({"title": ["a phone"]}))
assert "prometheus_client" not in sys.modules, "metrics started without the variable"
print("ok")
"""


@pytest.mark.slow
def test_without_the_variable_no_metrics_start(trained_model: TrainedModel, tmp_path: Path) -> None:

    env = trained_model.env()
    env.pop(METRICS_PORT_ENV, None)
    proc = subprocess.run(
        [sys.executable, "-c", NO_METRICS, CHAMPION_URI], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), proc.stderr[-3000:]
