"""Test-suite wide plugins. Real-service fixtures (PostgreSQL, S3, mlflow server) live in tests/stack/."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `tests.stack` must import the same way from every folder
    sys.path.insert(0, str(ROOT))

pytest_plugins = ["tests.stack.fixtures"]

from tests.serving.model_fixtures import TrainedModel, train_champion  # noqa: E402


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> TrainedModel:
    """ONE synthetic champion per session for serving, Spark and notebook tests (module-level cache)."""
    return train_champion(tmp_path_factory.getbasetemp() / "trained-model")


@pytest.fixture(autouse=True)
def _isolate_mlflow_globals() -> Iterator[None]:
    """Each test leaves MLflow's process-wide tracking URI and active experiment as it found them.

    (A test that points MLflow at its own SQLite store would otherwise leave an experiment id
    active that the next test's store does not have.)
    """
    import mlflow
    from mlflow.tracking import fluent

    uri = mlflow.get_tracking_uri()
    experiment_env = os.environ.get("MLFLOW_EXPERIMENT_ID")
    yield
    if experiment_env is None:
        os.environ.pop("MLFLOW_EXPERIMENT_ID", None)
    else:
        os.environ["MLFLOW_EXPERIMENT_ID"] = experiment_env
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(uri)
    fluent._active_experiment_id = None
