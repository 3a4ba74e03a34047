"""More than 50 generated bad requests against one real server: 4xx only, and the server survives.

Complements the hand-written cases in test_rest.py (at least 50 crafted requests in all).
"""

from __future__ import annotations

import json

import pytest
import requests

from tests.serving.model_fixtures import ModelServer

pytestmark = [pytest.mark.slow, pytest.mark.server]

GOOD = {"dataframe_records": [{"title": "Samsung 55 inch smart TV", "price": 45999}]}


def _bad_requests() -> list[tuple[str, bytes, str]]:
    good = json.dumps(GOOD)
    cases: list[tuple[str, bytes, str]] = []
    for cut in range(5, len(good) - 1, max(1, (len(good) - 6) // 20)):  # truncated JSON
        cases.append((f"truncated@{cut}", good[:cut].encode(), "application/json"))
    for key in ("records", "data", "dataframe", "rows", "predict"):  # unknown top-level keys
        cases.append((f"unknown-key-{key}", json.dumps({key: GOOD["dataframe_records"]}).encode(), "application/json"))
    for cols in ({"name": "x"}, {"price": 1}, {"brand": "LG", "seller_id": "s1"}, {"Title": "x"}, {"titel": "x"}):
        cases.append(
            (f"no-title-{next(iter(cols))}", json.dumps({"dataframe_records": [cols]}).encode(), "application/json")
        )
    for ctype in (
        "text/plain",
        "application/xml",
        "image/png",
        "multipart/form-data",
        "application/x-www-form-urlencoded",
    ):
        cases.append((f"content-type-{ctype}", json.dumps(GOOD).encode(), ctype))
    bad_params = [("on_drift", v) for v in ("panic", "", "FALLBACK", 1, None)]
    bad_params += [("confidence_threshold", v) for v in (-0.1, 1.5, "high", 99, [0.5])]
    for name, value in bad_params:
        body = {**GOOD, "params": {name: value}}
        cases.append((f"param-{name}-{value!r}", json.dumps(body).encode(), "application/json"))
    for body in (b"", b"{}", b"[]", b"null", b'"title"'):
        cases.append((f"empty-{body!r}", body, "application/json"))
    split_bad = [
        {"dataframe_split": {"columns": ["title"], "data": [["a", "b"]]}},
        {"dataframe_split": {"columns": ["title", "price"], "data": [["a"]]}},
        {"dataframe_split": {"data": [["a"]]}},
    ]
    for i, body in enumerate(split_bad):
        cases.append((f"split-{i}", json.dumps(body).encode(), "application/json"))
    return cases


CASES = _bad_requests()


def test_there_are_at_least_fifty_cases():
    assert len(CASES) >= 50


def test_generated_bad_requests_get_4xx_and_the_server_survives(champion_server: ModelServer):
    failures = []
    session = requests.Session()
    for name, body, ctype in CASES:
        resp = session.post(
            f"{champion_server.url}/invocations", data=body, headers={"Content-Type": ctype}, timeout=30
        )
        if not 400 <= resp.status_code < 500:
            failures.append(f"{name}: {resp.status_code} {resp.text[:150]}")
    assert not failures, failures
    assert session.get(f"{champion_server.url}/ping", timeout=5).status_code == 200
    ok = session.post(
        f"{champion_server.url}/invocations",
        data=json.dumps(GOOD),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert ok.status_code == 200 and len(ok.json()["predictions"]) == 1
