"""The registry workflow on the production-shaped stack: mlflow server + PostgreSQL + S3 (moto), on loopback.

Services come from the session fixtures in tests/stack (started once, shared); models are trained
with the real ``python -m training.train`` against the server, and served with ``mlflow models serve``.
"""

from __future__ import annotations

import re
from pathlib import Path

import boto3
import pytest
from mlflow import MlflowClient

from tests.stack import clients
from tests.stack.servers import S3_CREDENTIALS, ModelServer, Stack

pytestmark = [pytest.mark.slow, pytest.mark.server]
NAME = "product-classifier"
ROW = {"title": "Samsung smart television 55", "brand": "Samsung", "price": "₹32,999", "rating": 4.2}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("registry-stack")


def _client(stack: Stack) -> MlflowClient:
    return MlflowClient(tracking_uri=stack.tracking_uri, registry_uri=stack.tracking_uri)


def _s3_keys(stack: Stack) -> list[str]:
    s3 = boto3.client(
        "s3",
        endpoint_url=stack.s3.endpoint,
        region_name=S3_CREDENTIALS["AWS_DEFAULT_REGION"],
        aws_access_key_id=S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=stack.server.bucket)
    return [obj["Key"] for page in pages for obj in page.get("Contents", [])]


def test_production_stack_flow(mlflow_stack: Stack, stack_runs: tuple[str, str], workdir: Path) -> None:
    env, client = mlflow_stack.env(), _client(mlflow_stack)
    run_a, run_b = stack_runs
    keys = _s3_keys(mlflow_stack)
    assert any(k.endswith("artifacts/drift_reference.json") for k in keys), keys[:20]

    clients.ok(clients.registry(["register", "--run-id", run_a], env, workdir))
    clients.ok(clients.registry(["register", "--run-id", run_b], env, workdir))
    assert client.get_model_version(NAME, "2").tags["data.rows"] == str(clients.DEFAULT_SYNTHETIC_ROWS)

    clients.ok(clients.registry(["promote", "--version", "1", "--to", "production", "--force"], env, workdir))
    # an unmeetable latency limit: refused, exit 1, and the table says which check failed
    gate = clients.registry(["gate", "--candidate", "2", "--max-latency-ratio", "0.001"], env, workdir)
    assert gate.returncode == 1, gate.describe()
    assert re.search(r"^single-row latency .* FAIL", gate.stdout, re.MULTILINE), gate.stdout
    assert re.search(r"^macro_f1 .* ok", gate.stdout, re.MULTILINE) and "champion v1" in gate.stdout
    out = clients.ok(
        clients.registry(
            ["promote", "--version", "2", "--to", "production", "--max-latency-ratio", "5", "--max-f1-drop", "0.05"],
            env,
            workdir,
        )
    ).stdout
    assert "GATE PASSED" in out
    assert clients.alias_version(client, NAME, "champion") == "2"
    assert client.get_model_version(NAME, "2").current_stage == "Production"

    server = ModelServer(f"models:/{NAME}@champion", env, workdir)
    try:
        server.start()
        response = server.invoke([ROW])
    finally:
        server.stop()
    assert response.status_code == 200, response.text
    prediction = response.json()["predictions"][0]
    assert prediction["category"] and 0.0 <= prediction["confidence"] <= 1.0

    out = clients.ok(clients.registry(["rollback"], env, workdir)).stdout
    assert "now resolve to v1" in out
    assert clients.alias_version(client, NAME, "champion") == "1"
    assert client.get_model_version(NAME, "1").current_stage == "Production"
    assert client.get_model_version(NAME, "2").current_stage == "Archived"
    listing = clients.ok(clients.registry(["list"], env, workdir)).stdout
    assert re.search(r"^1\s+Production\s+@champion", listing, re.MULTILINE), listing


def test_basic_auth_read_user_cannot_promote_manage_user_can(
    auth_stack: Stack, stack_runs: tuple[str, str], workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the auth server shares the stack's store, so a run trained there is registered here by the admin
    name = "product-classifier-acl"
    admin = auth_stack.env("admin", auth_stack.server.admin_password)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")  # this process's client reads credentials from env
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", auth_stack.server.admin_password)
    admin_client = _client(auth_stack)
    clients.ok(
        clients.registry(["register", "--run-id", stack_runs[0], "--registered-model-name", name], admin, workdir)
    )
    auth_stack.server.create_user("reader", "reader-password-1", name, "READ")
    auth_stack.server.create_user("manager", "manager-password-1", name, "MANAGE")
    reader = auth_stack.env("reader", "reader-password-1")
    manager = auth_stack.env("manager", "manager-password-1")

    # READ may load (what `mlflow models serve` does first) and predict, and list
    load = clients.run_python(
        [
            "-c",
            (
                "import mlflow, pandas as pd\n"
                f"m = mlflow.pyfunc.load_model('models:/{name}/1')\n"
                f"print('category=' + m.predict(pd.DataFrame([{ROW!r}]))['category'][0])"
            ),
        ],
        reader,
        workdir,
    )
    assert load.returncode == 0 and "category=" in load.stdout, load.describe()
    clients.ok(clients.registry(["list", "--registered-model-name", name], reader, workdir))

    promote = ["promote", "--version", "1", "--to", "production", "--force", "--registered-model-name", name]
    refused = clients.registry(promote, reader, workdir)
    assert refused.returncode == 3, refused.describe()
    assert (
        f"permission denied: user 'reader' may not move alias 'champion' on registered model '{name}'" in refused.stderr
    ), refused.describe()
    assert "Traceback" not in refused.stderr
    assert "champion" not in admin_client.get_registered_model(name).aliases
    assert admin_client.get_model_version(name, "1").current_stage == "None"

    clients.ok(clients.registry(promote, manager, workdir))
    assert str(admin_client.get_model_version_by_alias(name, "champion").version) == "1"
    assert admin_client.get_model_version(name, "1").current_stage == "Production"
