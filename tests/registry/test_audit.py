"""The promotion audit trail, end to end through ``python -m registry_scripts``.

Embedded SQLite store (recorded user = the OS user) and the production-shaped stack: mlflow server
+ PostgreSQL + S3 behind basic-auth (recorded user = the authenticated MLflow user, confirmed by
the server). Tiny models are registered: the trail does not depend on what the model predicts, and
the gate refuses them (a refused gate is recorded too).
"""

from __future__ import annotations

import getpass
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from mlflow import MlflowClient

from registry_scripts import audit
from tests.stack import clients
from tests.stack.servers import Stack

pytestmark = [pytest.mark.slow]
TINY_MODEL = Path(__file__).with_name("tiny_model.py")


def _tiny_runs(env: dict[str, str], workdir: Path, n: int) -> list[str]:
    with ThreadPoolExecutor(max_workers=n) as pool:
        results = list(pool.map(lambda _: clients.run_python([str(TINY_MODEL)], env, workdir), range(n)))
    return [re.search(r"run_id=(\w+)", clients.ok(r).stdout).group(1) for r in results]  # type: ignore[union-attr]


def run_flow(env: dict[str, str], workdir: Path, client: MlflowClient, name: str, runs: list[str]) -> str:
    """promote x4 (one via staging), a refused gate, two rollbacks; returns ``list --history``'s output."""
    named = ["--registered-model-name", name]
    for run_id in runs:
        clients.ok(clients.registry(["register", "--run-id", run_id, *named], env, workdir))
    for version, target in (("1", "production"), ("2", "staging"), ("2", "production"), ("3", "production")):
        clients.ok(clients.registry(["promote", "--version", version, "--to", target, "--force", *named], env, workdir))
    assert clients.alias_version(client, name, "champion") == "3"
    gate = clients.registry(["gate", "--candidate", "1", *named], env, workdir)
    assert gate.returncode == 1, gate.describe()
    clients.ok(clients.registry(["rollback", *named], env, workdir))
    assert clients.alias_version(client, name, "champion") == "2"
    clients.ok(clients.registry(["rollback", *named], env, workdir))  # the history knows v1 came before v2
    assert clients.alias_version(client, name, "champion") == "1"
    return clients.ok(clients.registry(["list", "--history", *named], env, workdir)).stdout


def check_trail(client: MlflowClient, name: str, history_out: str, user: str, source: str) -> None:
    events = audit.history(client, name)
    assert [e["action"] for e in events] == ["promote"] * 4 + ["gate", "rollback", "rollback"]
    assert {(e["by"], e["by_source"]) for e in events} == {(user, source)}
    moves = [(m["alias"], m["from"], m["to"]) for e in events for m in e["moves"]]
    assert moves == [
        ("champion", None, "1"),
        ("challenger", None, "2"),
        ("champion", "1", "2"),
        ("challenger", "2", None),
        ("champion", "2", "3"),
        ("champion", "3", "2"),
        ("champion", "2", "1"),
    ]
    gate = events[4]["gate"]
    assert events[4]["version"] == "1" and gate["champion"] == "3" and not gate["passed"] and gate["failed"]
    assert all(len(c) == 5 for c in gate["checks"])
    v1, v3 = client.get_model_version(name, "1"), client.get_model_version(name, "3")
    assert v1.tags["gate.result"] == "refused" and v1.tags["gate.by"] == user and v1.tags["gate.against"] == "3"
    assert v1.tags["promoted_to_production_by"] == user and v3.tags["rolled_back_by"] == user
    assert client.get_model_version(name, "2").tags["promoted_to_staging_by"] == user

    lines = history_out.splitlines()
    champion_rows = [line.split() for line in lines if line.startswith("@champion")]
    assert [row[1] for row in champion_rows] == ["1", "2", "3", "2", "1"]
    assert all(user in line for line in lines if line.startswith("@"))
    assert champion_rows[-1][4:6] == ["now", user]  # the open tenure: "until now"
    assert re.search(rf"^@challenger\s+2\s.*\s{re.escape(user)}\s+promote$", history_out, re.MULTILINE)
    assert re.search(r"^\S+ \S+\s+\S+\s+1\s+3\s+refused\s", history_out, re.MULTILINE), history_out
    assert "moved outside" not in history_out


def test_audit_trail_embedded_sqlite(tmp_path: Path) -> None:
    env = {"MLFLOW_TRACKING_URI": "", "MLFLOW_REGISTRY_URI": "", "MLFLOW_TRACKING_USERNAME": "not-verified"}
    client = MlflowClient(tracking_uri=(uri := f"sqlite:///{tmp_path / 'mlflow.db'}"), registry_uri=uri)
    out = run_flow(env, tmp_path, client, "product-classifier", _tiny_runs(env, tmp_path, 3))
    # a local store cannot vouch for MLFLOW_TRACKING_USERNAME: the OS user is recorded
    check_trail(client, "product-classifier", out, getpass.getuser(), "os")


@pytest.mark.server
def test_audit_trail_on_authenticated_stack(mlflow_stack: Stack, auth_stack: Stack, tmp_path: Path) -> None:
    """Shorter flow than on SQLite (the history logic is the same code): what differs is who is recorded."""
    name = "product-classifier-audit"
    runs = _tiny_runs(mlflow_stack.env(), tmp_path, 2)  # logged through the plain front end, same store
    auth_stack.server.create_user("auditor-alice", "alice-Passw0rd-1", name, "MANAGE")
    alice = auth_stack.env("auditor-alice", "alice-Passw0rd-1")
    admin = auth_stack.env("admin", auth_stack.server.admin_password)
    for run_id in runs:
        clients.ok(clients.registry(["register", "--run-id", run_id, "--registered-model-name", name], admin, tmp_path))
    named = ["--registered-model-name", name]
    for version in ("1", "2"):
        clients.ok(
            clients.registry(
                ["promote", "--version", version, "--to", "production", "--force", *named], alice, tmp_path
            )
        )
    clients.ok(clients.registry(["rollback", *named], alice, tmp_path))
    client = MlflowClient(tracking_uri=mlflow_stack.tracking_uri, registry_uri=mlflow_stack.tracking_uri)
    assert clients.alias_version(client, name, "champion") == "1"

    events = audit.history(client, name)
    assert [(e["action"], e["by"], e["by_source"]) for e in events] == [
        ("promote", "auditor-alice", "mlflow"),
        ("promote", "auditor-alice", "mlflow"),
        ("rollback", "auditor-alice", "mlflow"),
    ]
    assert client.get_model_version(name, "2").tags["rolled_back_by"] == "auditor-alice"
    listing = clients.ok(clients.registry(["list", "--history", *named], alice, tmp_path)).stdout
    assert [line.split()[1] for line in listing.splitlines() if line.startswith("@champion")] == ["1", "2", "1"]

    # an alias moved by hand (here by the admin, outside registry_scripts) is pointed out
    client.set_registered_model_alias(name, "champion", "2")
    listing = clients.ok(clients.registry(["list", "--history", *named], alice, tmp_path)).stdout
    assert "note: @champion is now on v2, but the history ends with v1" in listing
