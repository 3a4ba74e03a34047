"""Fuzzing and fault fixtures: the session's small model (tests/small_model.py) and breakable copies."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import mlflow
import pytest

from tests.small_model import SmallModel, small_model


@pytest.fixture(scope="session")
def reliability_model(tmp_path_factory: pytest.TempPathFactory) -> SmallModel:
    return small_model(tmp_path_factory.getbasetemp() / "small-model")


@pytest.fixture(scope="session")
def loaded_reliability_model(reliability_model: SmallModel) -> mlflow.pyfunc.PyFuncModel:
    """Loaded through MLflow's front door (signature enforcement included), as users load it."""
    # one "extra inputs will be ignored" warning per fuzzed frame would drown any real failure
    logging.getLogger("mlflow.models.utils").setLevel(logging.ERROR)
    return mlflow.pyfunc.load_model(str(reliability_model.local_dir))


@pytest.fixture
def model_copy(reliability_model: SmallModel, tmp_path: Path) -> Path:
    """A private copy of the logged model directory, safe to corrupt."""
    return Path(shutil.copytree(reliability_model.local_dir, tmp_path / "model"))
