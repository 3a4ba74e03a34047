"""The session's small model (tests/small_model.py): in-memory pipeline and logged artifact."""

from __future__ import annotations

import mlflow
import pytest

from tests.small_model import SmallModel, small_model


@pytest.fixture(scope="session")
def logged_model(tmp_path_factory: pytest.TempPathFactory) -> SmallModel:
    return small_model(tmp_path_factory.getbasetemp() / "small-model")


@pytest.fixture(scope="session")
def loaded(logged_model: SmallModel) -> mlflow.pyfunc.PyFuncModel:
    mlflow.set_tracking_uri(logged_model.tracking_uri)
    return mlflow.pyfunc.load_model(logged_model.model_uri)
