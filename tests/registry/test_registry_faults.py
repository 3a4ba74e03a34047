"""Faults on a private stack: S3 gone while registering, tracking server gone. Both must fail clearly.

The stack is this module's own (own moto server) so breaking it cannot affect other tests.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.stack import clients
from tests.stack.servers import Stack

pytestmark = [pytest.mark.slow, pytest.mark.server]
NAME = "product-classifier"
TINY_MODEL = Path(__file__).with_name("tiny_model.py")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("registry-faults")


@pytest.fixture(scope="module")
def fault_stack(make_stack: object) -> Stack:
    return make_stack("faults")  # type: ignore[operator]


def test_s3_down_during_register_registers_nothing(fault_stack: Stack, workdir: Path) -> None:
    env = fault_stack.env()
    logged = clients.run_python([str(TINY_MODEL)], env, workdir)
    match = re.search(r"run_id=(\w+)", logged.stdout)
    assert logged.returncode == 0 and match, logged.describe()

    fault_stack.s3.stop()
    for key in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR"):
        env.pop(key)  # the command's own retry defaults must give up quickly too
    start = time.monotonic()
    result = clients.registry(["register", "--run-id", match.group(1)], env, workdir, timeout=300)
    elapsed = time.monotonic() - start
    assert result.returncode == 2, result.describe()
    assert "cannot read the model files" in result.stderr and "Nothing was registered" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    client = MlflowClient(tracking_uri=fault_stack.tracking_uri, registry_uri=fault_stack.tracking_uri)
    assert client.search_model_versions(f"name = '{NAME}'") == []
    assert elapsed < 90, f"took {elapsed:.0f}s to report the outage"
    print(f"register with S3 down failed after {elapsed:.1f}s:\n{result.stderr}")


def test_tracking_server_down_names_the_uri(fault_stack: Stack, workdir: Path) -> None:
    fault_stack.server.stop()
    for args in (["list"], ["register", "--run-id", "0" * 32], ["promote", "--latest", "--to", "production"]):
        start = time.monotonic()
        result = clients.registry(args, fault_stack.env(), workdir, timeout=120)
        assert result.returncode == 2, result.describe()
        assert f"cannot reach the MLflow tracking server at {fault_stack.tracking_uri}" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
        assert time.monotonic() - start < 30, "should fail fast, not after minutes of retries"
