"""`mlflow models serve --workers 2` with metrics on: counters add up across workers, drift moves, logs are JSON.

Real server, real HTTP, scraped with prometheus_client's own parser; the rows per worker are read
back from the multiprocess files to prove that both workers answered and both are counted.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from pyfunc_model.observability.labels import MONITORED_INPUTS
from pyfunc_model.observability.logs import LOG_JSON_ENV
from pyfunc_model.observability.metrics import DIR_PREFIX, METRICS_ADDR_ENV, METRICS_PORT_ENV, MULTIPROC_ENV
from tests.serving.model_fixtures import CHAMPION_URI, TrainedModel, drifted_products, free_port, model_server
from training.synthetic import generate_synthetic_products

pytestmark = [pytest.mark.slow, pytest.mark.server]
BATCH = 50
BATCHES = 8
SINGLE_ROWS = 10


def _post(url: str, frame: pd.DataFrame, params: dict[str, Any] | None = None) -> requests.Response:
    """A fresh connection per request, so the kernel spreads requests over both workers."""
    body: dict[str, Any] = {"dataframe_split": json.loads(frame.to_json(orient="split", index=False))}
    if params:
        body["params"] = params
    return requests.post(f"{url}/invocations", json=body, timeout=60, headers={"Connection": "close"})


def _send(url: str, frames: list[pd.DataFrame], params: dict[str, Any] | None = None) -> pd.DataFrame:
    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(lambda f: _post(url, f, params), frames))
    for response in responses:
        assert response.status_code == 200, response.text[:500]
    return pd.concat([pd.DataFrame(r.json()["predictions"]) for r in responses], ignore_index=True)


def _scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def _value(samples: dict, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def _by_label(samples: dict, name: str, label: str, **where: str) -> dict[str, float]:
    return {
        dict(k[1])[label]: v
        for k, v in samples.items()
        if k[0] == name and all(dict(k[1]).get(w) == x for w, x in where.items())
    }


def _documented_metrics() -> list[str]:
    """The metric names of docs/MONITORING.md's table (first column, without the prefix)."""
    text = (Path(__file__).parents[2] / "docs" / "MONITORING.md").read_text()
    table = text.split("## Metrics", 1)[1].split("Useful queries", 1)[0]
    names = re.findall(r"^\| `([a-z_]+)` \|", table, flags=re.M)
    assert len(names) >= 10, names
    return names


def _rows_per_worker(directory: Path) -> dict[str, float]:
    """rows_scored_total summed per worker pid, read from each worker's own file."""
    out = {}
    for path in directory.glob("counter_*.db"):
        families = MultiProcessCollector.merge([str(path)])
        out[path.stem.rpartition("_")[2]] = sum(
            s.value for f in families if f.name == "product_classifier_rows_scored" for s in f.samples
        )
    return out


def test_two_workers_metrics_and_logs(trained_model: TrainedModel, tmp_path: Path) -> None:
    metrics_port = free_port()
    env = trained_model.env()
    env.update(
        {
            METRICS_PORT_ENV: str(metrics_port),
            METRICS_ADDR_ENV: "127.0.0.1",
            MULTIPROC_ENV: str(tmp_path / "prom"),
            LOG_JSON_ENV: "1",
        }
    )
    in_dist = generate_synthetic_products(BATCH * BATCHES + SINGLE_ROWS, seed=11).drop(columns=["category"])
    drifted = drifted_products(BATCH * BATCHES, seed=5)
    with model_server(CHAMPION_URI, env, tmp_path, workers=2) as server:
        # in distribution: batches (batch scope), single rows (window scope), and one refused request
        batches = [in_dist.iloc[i * BATCH : (i + 1) * BATCH] for i in range(BATCHES)]
        singles = [in_dist.iloc[[BATCH * BATCHES + i]] for i in range(SINGLE_ROWS)]
        first = pd.concat([_send(server.url, batches), _send(server.url, singles)], ignore_index=True)
        refused = _post(server.url, in_dist.head(3), {"confidence_threshold": 5.0})
        assert refused.status_code == 400, refused.text
        before = _scrape(metrics_port)

        second = _send(
            server.url, [drifted.iloc[i * BATCH : (i + 1) * BATCH] for i in range(BATCHES)], {"on_drift": "fallback"}
        )
        # the kernel picks the worker; top up with single rows until both have answered (rarely needed)
        [directory] = (tmp_path / "prom").glob(f"{DIR_PREFIX}*")
        extra = []
        while sum(v > 0 for v in _rows_per_worker(directory).values()) < 2 and len(extra) < 100:
            extra.append(_send(server.url, [in_dist.iloc[[len(extra)]]]))
        second = pd.concat([second, *extra], ignore_index=True)
        after = _scrape(metrics_port)
        log_text = server.log_path.read_text(errors="replace")

    # counters add up to what was sent, across both workers, route by route
    assert len(first) == BATCH * BATCHES + SINGLE_ROWS and len(second) == BATCH * BATCHES + len(extra)
    routes_before = _by_label(before, "product_classifier_rows_scored_total", "model_used")
    assert {k: v for k, v in routes_before.items() if v} == dict(Counter(first["model_used"]))
    routes_after = _by_label(after, "product_classifier_rows_scored_total", "model_used")
    expected = Counter(first["model_used"]) + Counter(second["model_used"])
    assert {k: v for k, v in routes_after.items() if v} == dict(expected)
    answered = BATCHES * 2 + SINGLE_ROWS + len(extra)
    assert _value(after, "product_classifier_requests_total", outcome="answered") == answered
    assert _value(after, "product_classifier_requests_total", outcome="refused") == 1
    assert _value(after, "product_classifier_batch_rows_sum") == len(first) + len(second) + 3
    assert _value(after, "product_classifier_predict_latency_seconds_count") == answered + 1

    per_worker = _rows_per_worker(directory)
    assert len(per_worker) == 2 and all(v > 0 for v in per_worker.values()), per_worker
    assert sum(per_worker.values()) == len(first) + len(second)

    # drift: off for in-distribution traffic, then on, with the inputs the responses named
    assert not first["drift_detected"].any()
    assert _value(before, "product_classifier_drift_detected", scope="batch") == 0
    assert not any(_by_label(before, "product_classifier_drift_input_drifted", "input", scope="batch").values())
    assert second["drift_detected"].iloc[: BATCH * BATCHES].all()
    assert _value(after, "product_classifier_drift_detected", scope="batch") == 1
    assert _value(after, "product_classifier_drift_score", scope="batch") >= 0.5
    inputs = _by_label(after, "product_classifier_drift_input_drifted", "input", scope="batch")
    flagged = {k for k, v in inputs.items() if v}
    named = {i for r in second["fallback_reason"] if r.startswith("drift:") for i in r[6:].split(",")}
    assert flagged and flagged <= named <= set(MONITORED_INPUTS)
    rerouted = (second["fallback_reason"].str.startswith("drift:")).sum()
    assert _value(after, "product_classifier_rows_rerouted_total", reason="drift") == rerouted > 0
    assert 0 < _value(after, "product_classifier_estimated_accuracy") <= 1
    # the mean-confidence gauge holds the latest check's mean, and moves with the traffic
    confidence = [_value(m, "product_classifier_mean_confidence") for m in (before, after)]
    assert all(0 < c <= 1 for c in confidence) and confidence[0] != confidence[1], confidence
    # every series the operator's guide documents is scraped
    scraped = {name for name, _ in after}
    missing = [m for m in _documented_metrics() if not any(n.startswith(f"product_classifier_{m}") for n in scraped)]
    assert not missing, missing
    # bounded: the drifted traffic created no new series
    assert set(after) == set(before)
    info = [dict(k[1]) for k in after if k[0] == "product_classifier_model_info"]
    assert info and {(i["registered_model_name"], i["version"]) for i in info} == {
        (trained_model.name, trained_model.version)
    }

    # logs: JSON lines from both workers, the verdict change with its inputs, no input values
    records = [json.loads(line) for line in log_text.splitlines() if line.startswith("{")]
    loaded = [r for r in records if r["event"] == "model_loaded"]
    assert len({r["pid"] for r in loaded}) == 2, loaded
    assert all(r["version"] == trained_model.version and r["drift_settings"] for r in loaded)
    assert len([r for r in records if r["event"] == "metrics_serving"]) == 1
    changes = [r for r in records if r["event"] == "drift_verdict_changed" and r["current"] == "on"]
    assert changes and all(r["drifted_inputs"] and r["previous"] == "off" for r in changes), changes
    titles = [t for t in [*in_dist["title"], *drifted["title"]] if isinstance(t, str) and len(t) > 12]
    assert not [t for t in titles if t in log_text]
