"""`needs_review` and the `review_threshold` param over REST equal in-process predict."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.serving.model_fixtures import ModelServer, sample_products

pytestmark = [pytest.mark.slow, pytest.mark.server]


@pytest.mark.parametrize("params", [None, {"review_threshold": 0.5}])
def test_needs_review_over_rest(champion_server: ModelServer, local_model: Any, params: dict | None) -> None:
    df = sample_products(100, seed=5, source="synthetic")
    payload: dict[str, Any] = {"dataframe_split": json.loads(df.to_json(orient="split", index=False))}
    if params:
        payload["params"] = params
    resp = champion_server.invoke(json.dumps(payload))
    assert resp.status_code == 200, resp.text[:500]
    served = [row["needs_review"] for row in resp.json()["predictions"]]
    assert served == local_model.predict(df, params=params)["needs_review"].tolist()
    assert all(isinstance(v, bool) for v in served)


def test_bad_review_threshold_is_a_400_naming_it(champion_server: ModelServer) -> None:
    body = json.dumps({"dataframe_records": [{"title": "a"}], "params": {"review_threshold": 3.0}})
    resp = champion_server.invoke(body)
    assert resp.status_code == 400 and "review_threshold" in resp.json()["message"]
