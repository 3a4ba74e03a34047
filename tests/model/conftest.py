"""One small model fitted in-process (so tests can compare against the in-memory pipeline) and logged."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from features.schema import LABEL
from pyfunc_model.bundle import ModelBundle
from pyfunc_model.model import ProductClassifierModel
from training.data import title_group_split
from training.log_model import log_bundle
from training.synthetic import generate_synthetic_products
from training.train import fit_model


@dataclass
class LoggedModel:
    bundle: ModelBundle
    in_memory: ProductClassifierModel
    model_uri: str
    tracking_uri: str
    test_frame: pd.DataFrame
    workdir: Path


@pytest.fixture(scope="session")
def logged_model(tmp_path_factory: pytest.TempPathFactory) -> LoggedModel:
    workdir = tmp_path_factory.mktemp("model")
    tracking_uri = f"sqlite:///{workdir / 'mlflow.db'}"
    frame = generate_synthetic_products(1500, seed=11)
    train_df, test_df = title_group_split(frame, 0.2, seed=3)
    fitted = fit_model(train_df, seed=3)
    in_memory = ProductClassifierModel()
    in_memory.setup(fitted.bundle)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracking_uri)
    try:
        mlflow.set_experiment("model-tests")  # another test may have left its experiment active
        with mlflow.start_run():
            info = log_bundle(fitted.bundle, test_df.drop(columns=LABEL), registered_model_name=None)
    finally:
        mlflow.set_tracking_uri(previous)
    return LoggedModel(fitted.bundle, in_memory, info.model_uri, tracking_uri, test_df.drop(columns=LABEL), workdir)


@pytest.fixture(scope="session")
def loaded(logged_model: LoggedModel) -> mlflow.pyfunc.PyFuncModel:
    mlflow.set_tracking_uri(logged_model.tracking_uri)
    return mlflow.pyfunc.load_model(logged_model.model_uri)
