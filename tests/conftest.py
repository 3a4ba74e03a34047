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


_MLFLOW_ENV = ("MLFLOW_EXPERIMENT_ID", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@pytest.fixture(autouse=True)
def _isolate_mlflow_globals() -> Iterator[None]:
    """Each test leaves MLflow's process-wide tracking and registry URIs and active experiment as it found them.

    (A test that points MLflow at its own SQLite store would otherwise leave an experiment id
    active that the next test's store does not have.)
    """
    import mlflow
    from mlflow.tracking import _model_registry, fluent

    uri = mlflow.get_tracking_uri()
    registry_uri = _model_registry.utils._registry_uri
    saved_env = {key: os.environ.get(key) for key in _MLFLOW_ENV}
    yield
    while mlflow.active_run() is not None:
        mlflow.end_run()
    mlflow.set_tracking_uri(uri)
    _model_registry.utils._registry_uri = registry_uri
    fluent._active_experiment_id = None
    for key, value in saved_env.items():  # set_*_uri also export these for subprocesses
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
