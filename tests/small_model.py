"""ONE small model, fitted in-process on synthetic data and logged, shared by the test folders that
need the in-memory pipeline next to the logged artifact (tests/model, tests/reliability).

A module-level cache, not a fixture: pytest cannot share a fixture across sibling folders, and
fitting twice per session costs time for nothing.
"""

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
from training.fit import fit_model
from training.log_model import log_bundle
from training.synthetic import generate_synthetic_products


@dataclass(frozen=True)
class SmallModel:
    bundle: ModelBundle
    in_memory: ProductClassifierModel
    model_uri: str
    tracking_uri: str
    local_dir: Path  # the logged model downloaded: copy it before breaking it
    test_frame: pd.DataFrame
    workdir: Path

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.bundle.classes]


_CACHE: dict[str, SmallModel] = {}


def small_model(workdir: Path) -> SmallModel:
    """Fit (1,500 synthetic rows), log into a fresh SQLite store under ``workdir``; cached per process."""
    if "model" in _CACHE:
        return _CACHE["model"]
    workdir.mkdir(parents=True, exist_ok=True)
    tracking_uri = f"sqlite:///{workdir / 'mlflow.db'}"
    frame = generate_synthetic_products(1500, seed=11)
    train_df, test_df = title_group_split(frame, 0.2, seed=3)
    fitted = fit_model(train_df, seed=3)
    in_memory = ProductClassifierModel()
    in_memory.setup(fitted.bundle)
    previous = mlflow.get_tracking_uri()
    with pytest.MonkeyPatch.context() as env:
        # an experiment id left by an earlier test (env var or fluent state) does not exist in this store
        env.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
        env.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
        mlflow.set_tracking_uri(tracking_uri)
        try:
            experiment_id = mlflow.create_experiment("small-model")
            with mlflow.start_run(experiment_id=experiment_id):
                info = log_bundle(fitted.bundle, test_df.drop(columns=LABEL))
            local = Path(mlflow.artifacts.download_artifacts(info.model_uri, dst_path=str(workdir / "downloaded")))
        finally:
            mlflow.set_tracking_uri(previous)
    _CACHE["model"] = SmallModel(
        fitted.bundle, in_memory, info.model_uri, tracking_uri, local, test_df.drop(columns=LABEL), workdir
    )
    return _CACHE["model"]
