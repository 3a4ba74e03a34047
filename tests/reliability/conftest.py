"""One small model, fitted on synthetic data and logged once per session, for fuzzing and faults.

Built the way ``tests/model/conftest.py`` builds its model (pytest cannot import fixtures across
test folders), but kept separate so these tests can copy and break the logged directory.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from features.schema import LABEL
from training.data import title_group_split
from training.log_model import log_bundle
from training.synthetic import generate_synthetic_products
from training.train import fit_model


@dataclass
class ReliabilityModel:
    """Where the logged model lives and what it answers with."""

    model_uri: str
    tracking_uri: str
    local_dir: Path
    classes: list[str]
    test_frame: pd.DataFrame


@pytest.fixture(scope="session")
def reliability_model(tmp_path_factory: pytest.TempPathFactory) -> ReliabilityModel:
    workdir = tmp_path_factory.mktemp("reliability")
    tracking_uri = f"sqlite:///{workdir / 'mlflow.db'}"
    frame = generate_synthetic_products(1500, seed=11)
    train_df, test_df = title_group_split(frame, 0.2, seed=3)
    fitted = fit_model(train_df, seed=3)
    previous = mlflow.get_tracking_uri()
    with pytest.MonkeyPatch.context() as env:
        # an experiment id left by an earlier test (env var or fluent state) does not exist in this store
        env.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
        env.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
        mlflow.set_tracking_uri(tracking_uri)
        try:
            experiment_id = mlflow.create_experiment("reliability")
            with mlflow.start_run(experiment_id=experiment_id):
                info = log_bundle(fitted.bundle, test_df.drop(columns=LABEL), registered_model_name=None)
            local = Path(mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(workdir / "downloaded")))
        finally:
            mlflow.set_tracking_uri(previous)
    classes = [str(c) for c in fitted.bundle.classes]
    return ReliabilityModel(info.model_uri, tracking_uri, local, classes, test_df.drop(columns=LABEL))


@pytest.fixture(scope="session")
def loaded_reliability_model(reliability_model: ReliabilityModel) -> mlflow.pyfunc.PyFuncModel:
    """Loaded through MLflow's front door (signature enforcement included), as users load it."""
    # one "extra inputs will be ignored" warning per fuzzed frame would drown any real failure
    logging.getLogger("mlflow.models.utils").setLevel(logging.ERROR)
    return mlflow.pyfunc.load_model(str(reliability_model.local_dir))


@pytest.fixture
def model_copy(reliability_model: ReliabilityModel, tmp_path: Path) -> Path:
    """A private copy of the logged model directory, safe to corrupt."""
    return Path(shutil.copytree(reliability_model.local_dir, tmp_path / "model"))
