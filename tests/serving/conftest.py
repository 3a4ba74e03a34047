"""Serving fixtures: the session's trained champion, an in-process copy and a live REST server."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `tests.serving.model_fixtures` must be ONE module for all folders
    sys.path.insert(0, str(ROOT))

from tests.serving.model_fixtures import (  # noqa: E402
    CHAMPION_URI,
    ModelServer,
    TrainedModel,
    model_server,
)


@pytest.fixture(scope="session")
def local_model(trained_model: TrainedModel):  # -> mlflow.pyfunc.PyFuncModel
    """The champion loaded in-process: the reference every REST answer is compared with."""
    import mlflow

    mlflow.set_tracking_uri(trained_model.tracking_uri)
    mlflow.set_registry_uri(trained_model.tracking_uri)
    return mlflow.pyfunc.load_model(CHAMPION_URI)


@pytest.fixture(scope="session")
def champion_server(trained_model: TrainedModel) -> Iterator[ModelServer]:
    """`mlflow models serve -m models:/product-classifier@champion` on a free port."""
    with model_server(CHAMPION_URI, trained_model.env(), trained_model.workdir) as server:
        yield server
