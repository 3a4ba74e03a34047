"""Load and restart behaviour of a real `mlflow models serve`.

8 concurrent clients x 1,000 requests against ONE server: no errors, no lost or reordered
rows, resident memory growth under 10 % from request 2,000 to the end (the longer soak of
8 x 2,500 requests with metrics on is ``bench/metrics_overhead.py``). A restarted server gives
identical answers (drift columns included) for an identical request sequence.
"""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.serving.model_fixtures import CHAMPION_URI, model_server, sample_products

pytestmark = [pytest.mark.slow, pytest.mark.server]

CLIENTS = 8
REQUESTS_PER_CLIENT = 1_000
#: Memory is compared from this request on (warm-up: caches and the drift window fill first).
RSS_BASELINE_REQUEST = 2_000
ROWS_PER_REQUEST = 2


def _body(frame) -> str:
    return json.dumps({"dataframe_split": json.loads(frame.to_json(orient="split", index=False))})


def test_concurrent_clients_lose_nothing_and_memory_stays_flat(champion_server, local_model):
    pool = sample_products(200, seed=5, source="synthetic")
    expected = local_model.predict(pool)["category"].tolist()
    done = 0
    lock = threading.Lock()
    rss_at_baseline: list[int] = []
    errors: list[str] = []

    def client(c: int) -> None:
        nonlocal done
        session = requests.Session()
        for r in range(REQUESTS_PER_CLIENT):
            start = (c * 37 + r * ROWS_PER_REQUEST) % (len(pool) - ROWS_PER_REQUEST)
            rows = pool.iloc[start : start + ROWS_PER_REQUEST]
            resp = session.post(
                f"{champion_server.url}/invocations",
                data=_body(rows),
                headers={"Content-Type": "application/json"},
                timeout=60,
            )
            if resp.status_code != 200:
                errors.append(f"client {c} request {r}: {resp.status_code} {resp.text[:200]}")
                continue
            got = [p["category"] for p in resp.json()["predictions"]]
            if got != expected[start : start + ROWS_PER_REQUEST]:
                errors.append(f"client {c} request {r}: rows lost or reordered: {got}")
            with lock:
                done += 1
                if done == RSS_BASELINE_REQUEST:
                    rss_at_baseline.append(champion_server.rss_bytes())
        session.close()

    with ThreadPoolExecutor(CLIENTS) as executor:
        list(executor.map(client, range(CLIENTS)))
    rss_end = champion_server.rss_bytes()

    assert not errors, errors[:5]
    assert done == CLIENTS * REQUESTS_PER_CLIENT
    growth = rss_end / rss_at_baseline[0] - 1
    print(
        f"RSS at request {RSS_BASELINE_REQUEST:,}: {rss_at_baseline[0] / 2**20:.0f} MiB, "
        f"at the end: {rss_end / 2**20:.0f} MiB ({growth:+.1%})"
    )
    assert growth < 0.10


def test_restarted_server_answers_identically(trained_model):
    frames = [sample_products(n, seed=9, source="synthetic") for n in (1, 1, 50, 3)]
    answers = []
    for _ in range(2):
        with model_server(CHAMPION_URI, trained_model.env(), trained_model.workdir) as server:
            answers.append([server.invoke(_body(f)).json() for f in frames])
    assert answers[0] == answers[1]
