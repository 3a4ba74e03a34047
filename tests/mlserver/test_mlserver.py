"""The artifact on Seldon MLServer (Open Inference Protocol V2), as KServe runs it.

MLServer runs from its own venv (``tests/mlserver/venv.py``, pinned by
``deploy/mlserver/requirements.txt``) on the folder ``deploy/mlserver/build_context.py`` writes,
which is the image's content; the project is not on its path, so the artifact's own code serves.
Answers are compared with in-process ``predict`` of the same model folder; bad requests must be
4xx naming the field, not MLServer's 500 or a NaN-padded answer.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest
import requests

from features.schema import INPUT_COLUMNS, NUMERIC_FIELDS
from tests.mlserver.venv import ROOT, ensure_mlserver_venv
from tests.serving.model_fixtures import free_ports
from tests.small_model import small_model

pytestmark = [pytest.mark.slow, pytest.mark.server]

MODEL = "product-classifier"
#: Output columns compared with in-process predict (the drift fields depend on each model's own window).
COMPARED = ("category", "confidence", "probabilities", "model_used", "fallback_reason", "needs_review")


@dataclass(frozen=True)
class Served:
    url: str
    context: Path  # the build context MLServer serves (the image's content)
    local: mlflow.pyfunc.PyFuncModel  # its model folder, loaded in this process

    def infer(self, body: dict[str, Any]) -> requests.Response:
        return requests.post(f"{self.url}/v2/models/{MODEL}/infer", json=body, timeout=60)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL, the process group this test started (MLServer and its workers)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)
            return


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    venv = ensure_mlserver_venv()
    model = small_model(tmp_path_factory.getbasetemp() / "small-model")
    work = tmp_path_factory.mktemp("mlserver")
    context = work / "context"
    build = [sys.executable, str(ROOT / "deploy" / "mlserver" / "build_context.py"), "--output", str(context)]
    env = {**os.environ, "MLFLOW_TRACKING_URI": model.tracking_uri}
    subprocess.run([*build, "--model-uri", model.model_uri], env=env, cwd=work, check=True, timeout=300)

    settings = json.loads((context / "settings.json").read_text())
    http, grpc, metrics = free_ports(3)
    settings.update(host="127.0.0.1", http_port=http, grpc_port=grpc, metrics_port=metrics)
    (context / "settings.json").write_text(json.dumps(settings))
    server_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MLFLOW_TRACKING_URI")}
    server_env["PATH"] = f"{venv / 'bin'}{os.pathsep}{server_env.get('PATH', '')}"
    log = work / "mlserver.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(venv / "bin" / "mlserver"), "start", str(context)],
            cwd=work,
            env=server_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{http}"
    try:
        deadline = time.monotonic() + 240
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"MLServer exited ({proc.returncode}):\n{log.read_text()[-4000:]}")
            with suppress(requests.RequestException):
                if requests.get(f"{url}/v2/models/{MODEL}/ready", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"MLServer not ready after 240s:\n{log.read_text()[-4000:]}")
            time.sleep(0.5)
        yield Served(url, context, mlflow.pyfunc.load_model(str(context / "model")))
    finally:
        _stop(proc)


def v2_body(frame: pd.DataFrame, params: dict[str, Any] | None = None) -> dict[str, Any]:
    """A V2 request: text columns as BYTES, numeric ones as FP64, missing values as null."""
    inputs = []
    for name in frame.columns:
        values = frame[name].astype(object).where(frame[name].notna(), None).tolist()
        datatype = "FP64" if name in NUMERIC_FIELDS else "BYTES"
        inputs.append({"name": name, "datatype": datatype, "shape": [len(frame)], "data": values})
    body: dict[str, Any] = {"inputs": inputs}
    if params:
        body["parameters"] = params
    return body


def answers(response: requests.Response) -> pd.DataFrame:
    assert response.status_code == 200, response.text[:1000]
    columns = {o["name"]: o["data"] for o in response.json()["outputs"]}
    frame = pd.DataFrame(columns)
    frame["probabilities"] = [json.loads(p) for p in frame["probabilities"]]  # V2 has no map type
    return frame


def assert_same(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    assert len(got) == len(expected)
    for name in COMPARED:
        if name == "confidence":
            np.testing.assert_allclose(got[name].to_numpy(float), expected[name].to_numpy(float), atol=1e-9)
        elif name == "probabilities":
            for g, e in zip(got[name], expected[name], strict=True):
                assert g == pytest.approx(e, abs=1e-9)
        else:
            assert got[name].tolist() == expected[name].tolist(), name


def rows(n: int) -> pd.DataFrame:
    from training.synthetic import generate_synthetic_products

    return generate_synthetic_products(n, seed=23)[list(INPUT_COLUMNS)].reset_index(drop=True)


def test_metadata_names_the_inputs(served: Served) -> None:
    meta = requests.get(f"{served.url}/v2/models/{MODEL}", timeout=10).json()
    inputs = {i["name"]: i["datatype"] for i in meta["inputs"]}
    assert list(inputs) == list(INPUT_COLUMNS) and inputs["title"] == "BYTES"


@pytest.mark.parametrize("n", [1, 100])
def test_answers_equal_in_process(served: Served, n: int) -> None:
    frame = rows(n)
    assert n == 1 or frame.isna().any().any(), "the rows must include missing values"
    assert_same(answers(served.infer(v2_body(frame))), served.local.predict(frame))


@pytest.mark.parametrize("columns", [["title"], ["title", "brand", "price"]])
def test_missing_optional_inputs(served: Served, columns: list[str]) -> None:
    frame = rows(20)[columns]
    assert_same(answers(served.infer(v2_body(frame))), served.local.predict(frame))


def test_request_parameters_reach_predict(served: Served) -> None:
    frame, params = rows(30), {"review_threshold": 1.0}
    got = answers(served.infer(v2_body(frame, params)))
    assert_same(got, served.local.predict(frame, params=params))
    default = answers(served.infer(v2_body(frame)))
    assert got["needs_review"].sum() > default["needs_review"].sum(), "a 1.0 auto-accept threshold reviews more rows"


def _input(name: str, datatype: str, data: list[Any]) -> dict[str, Any]:
    return {"name": name, "datatype": datatype, "shape": [len(data)], "data": data}


@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"inputs": [_input("price", "FP64", [499.0])]}, "'title' is required"),
        ({"inputs": [_input("title", "FP64", [1.0])]}, "'title' must be text"),
        (
            {"inputs": [_input("title", "BYTES", ["a", "b", "c"]), _input("price", "FP64", [1.0, 2.0])]},
            "title 3, price 2",
        ),
        ({"inputs": [_input("title", "BYTES", ["a"]), _input("prce", "FP64", [1.0])]}, "unknown inputs ['prce']"),
        (
            {"inputs": [_input("title", "BYTES", ["Puma t-shirt"])], "parameters": {"confidence_threshold": 5.0}},
            "'confidence_threshold'",
        ),
        ({"inputs": [_input("title", "BYTES", ["Puma t-shirt"])], "parameters": {"on_drift": "panic"}}, "'on_drift'"),
    ],
    ids=["missing-title", "title-as-number", "ragged", "unknown-input", "bad-threshold", "bad-on-drift"],
)
def test_bad_requests_are_400_naming_the_field(served: Served, body: dict[str, Any], names: str) -> None:
    response = served.infer(body)
    assert response.status_code == 400, response.text[:1000]
    assert names in response.json()["error"]


def test_pins_cover_the_model_requirements(served: Served) -> None:
    """The image must hold every package the artifact asks for, at the artifact's version."""

    def pins(path: Path) -> dict[str, str]:
        lines = [line.strip() for line in path.read_text().splitlines()]
        return dict(line.split("==", 1) for line in lines if "==" in line and not line.startswith("#"))

    ours = pins(served.context / "requirements.txt")
    wanted = pins(served.context / "model" / "requirements.txt")
    assert wanted and {name: ours.get(name) for name in wanted} == wanted
