"""Session-scoped pytest fixtures for the production-shaped stack (registered in tests/conftest.py).

One PostgreSQL cluster, one moto S3 server and one plain `mlflow server` are shared by the whole
session; a basic-auth server starts only if a test asks for it; ``make_stack`` gives a test its own
disposable stack (own S3 server too) when it needs to break something.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.stack.servers import PG_BIN, PostgresCluster, S3Server, Stack, start_stack


def _require_postgres() -> None:
    if not (PG_BIN / "initdb").exists() or shutil.which("runuser") is None:
        pytest.skip(f"PostgreSQL binaries not found in {PG_BIN} (set PG_BIN)")


@pytest.fixture(scope="session")
def stack_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Logs and config of every service the test run starts (look here when one fails)."""
    return tmp_path_factory.mktemp("stack")


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL 15 cluster on a free loopback port; each stack gets its own database in it."""
    _require_postgres()
    cluster = PostgresCluster().start()
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def s3_server(stack_workdir: Path) -> Iterator[S3Server]:
    """moto's S3 server on a free loopback port (each stack creates its own bucket)."""
    server = S3Server(stack_workdir).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mlflow_stack(pg_cluster: PostgresCluster, s3_server: S3Server, stack_workdir: Path) -> Iterator[Stack]:
    """`mlflow server` on PostgreSQL with proxied S3 artifacts (``--artifacts-destination s3://...``)."""
    stack = start_stack(pg_cluster, stack_workdir / "plain", s3=s3_server)
    yield stack
    stack.server.stop()


@pytest.fixture(scope="session")
def auth_stack(pg_cluster: PostgresCluster, mlflow_stack: Stack, stack_workdir: Path) -> Iterator[Stack]:
    """A ``--app-name basic-auth`` server over the SAME database and bucket as ``mlflow_stack``.

    Models logged through ``mlflow_stack`` are visible here without training again; permissions only
    apply to requests through this server. Admin: ``admin`` / ``stack.server.admin_password``.
    """
    stack = start_stack(pg_cluster, stack_workdir / "auth", app_name="basic-auth", share_store_of=mlflow_stack)
    yield stack
    stack.server.stop()


@pytest.fixture(scope="session")
def make_stack(pg_cluster: PostgresCluster, stack_workdir: Path) -> Iterator[Callable[..., Stack]]:
    """Factory for private stacks (own moto server) that a test may break; all stopped at session end."""
    started: list[Stack] = []

    def _make(name: str, **kwargs: object) -> Stack:
        stack = start_stack(pg_cluster, stack_workdir / name, **kwargs)  # type: ignore[arg-type]
        started.append(stack)
        return stack

    yield _make
    for stack in started:
        stack.server.stop()
        stack.s3.stop()
