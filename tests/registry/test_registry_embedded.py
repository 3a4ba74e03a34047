"""The registry workflow on the embedded default (SQLite mlflow.db + local artifacts, nothing started).

One real flow, in order: train two models -> register -> promote (forced, then gated) -> gate refusals
-> no-op promotion -> rollback -> list. Each step runs ``python -m registry_scripts`` like a user would.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.stack import clients

pytestmark = [pytest.mark.slow]
NAME = "product-classifier"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("embedded")


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    """No MLFLOW_TRACKING_URI: the commands must fall back to sqlite:///mlflow.db in the working folder."""
    return {"MLFLOW_TRACKING_URI": "", "MLFLOW_REGISTRY_URI": ""}


def test_embedded_flow(workdir: Path, env: dict[str, str]) -> None:
    client = MlflowClient(tracking_uri=(uri := f"sqlite:///{workdir / 'mlflow.db'}"), registry_uri=uri)
    run_a, run_b = clients.train_many(env, workdir, seeds=[1, 2])
    assert (workdir / "mlflow.db").exists()

    # register: tags carry metrics, data fingerprint and commit; registering again creates nothing
    out = clients.ok(clients.registry(["register", "--run-id", run_a], env, workdir)).stdout
    assert f"registered {NAME} version 1" in out
    again = clients.ok(clients.registry(["register", "--run-id", run_a], env, workdir)).stdout
    assert "already registered as product-classifier version 1" in again
    clients.ok(clients.registry(["register", "--model-uri", f"runs:/{run_b}/model"], env, workdir))
    v2 = client.get_model_version(NAME, "2")
    assert v2.run_id == run_b
    assert {
        "metric.macro_f1",
        "metric.macro_f1_title_only",
        "metric.accuracy",
        "metric.ece",
        "data.path",
        "data.rows",
        "data.sha256",
        "git.commit",
    } <= set(v2.tags)
    assert v2.tags["data.path"] == f"synthetic:{clients.DEFAULT_SYNTHETIC_ROWS}"

    # first champion: --force skips the gate and says so
    out = clients.ok(
        clients.registry(["promote", "--version", "1", "--to", "production", "--force"], env, workdir)
    ).stdout
    assert "--force given: skipping the gate" in out
    assert clients.alias_version(client, NAME, "champion") == "1"

    # staging, dry run, then the gated promotion to production
    clients.ok(clients.registry(["promote", "--version", "2", "--to", "staging"], env, workdir))
    assert clients.alias_version(client, NAME, "challenger") == "2"
    dry = clients.ok(
        clients.registry(["promote", "--latest", "--to", "production", "--dry-run", "--force"], env, workdir)
    )
    assert "dry run: would set product-classifier v2 to Production" in dry.stdout
    assert clients.alias_version(client, NAME, "champion") == "1"
    out = clients.ok(
        clients.registry(
            ["promote", "--latest", "--to", "production", "--max-latency-ratio", "5", "--max-f1-drop", "0.05"],
            env,
            workdir,
        )
    ).stdout
    assert "GATE PASSED" in out and "running the gate" in out
    assert clients.alias_version(client, NAME, "champion") == "2"
    assert client.get_model_version(NAME, "2").current_stage == "Production"
    assert client.get_model_version(NAME, "1").current_stage == "Archived"
    assert "challenger" not in client.get_registered_model(NAME).aliases

    # promoting the champion again is a no-op, not an error
    noop = clients.ok(clients.registry(["promote", "--version", "2", "--to", "production"], env, workdir)).stdout
    assert "already Production with alias @champion: nothing to do" in noop

    # a model without drift reference/fallbacks and with an incompatible signature is refused
    tiny = clients.run_python([str(Path(__file__).with_name("tiny_model.py"))], env, workdir)
    run_c = re.search(r"run_id=(\w+)", tiny.stdout)
    assert tiny.returncode == 0 and run_c, tiny.describe()
    clients.ok(clients.registry(["register", "--run-id", run_c.group(1)], env, workdir))
    bad = clients.registry(["promote", "--version", "3", "--to", "production"], env, workdir)
    assert bad.returncode == 1, bad.describe()
    for reason in (
        "drift_reference.json missing",
        "fallbacks.pkl missing",
        "input 'sku' is required",
        "GATE REFUSED",
        "not promoted",
    ):
        assert reason in bad.stdout, bad.stdout
    assert clients.alias_version(client, NAME, "champion") == "2"

    # rollback: v1 is champion/Production again; a second rollback has nowhere to go
    out = clients.ok(clients.registry(["rollback"], env, workdir)).stdout
    assert "now resolve to v1" in out
    assert clients.alias_version(client, NAME, "champion") == "1"
    assert client.get_model_version(NAME, "1").current_stage == "Production"
    assert client.get_model_version(NAME, "2").current_stage == "Archived"
    again = clients.registry(["rollback"], env, workdir)
    assert again.returncode != 0 and "nothing to roll back to" in again.stderr, again.describe()

    listing = clients.ok(clients.registry(["list"], env, workdir)).stdout
    lines = {line.split()[0]: line for line in listing.splitlines()[3:] if line.strip()}
    assert set(lines) == {"1", "2", "3"}, listing
    assert "Production" in lines["1"] and "@champion" in lines["1"] and run_a in lines["1"]
    assert "Archived" in lines["2"]
