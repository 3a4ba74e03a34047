"""Fixtures shared by the Spark tests."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest

from tests.serving.model_fixtures import CHAMPION_URI, TrainedModel


@pytest.fixture(scope="module")
def in_process(trained_model: TrainedModel) -> Callable[..., pd.DataFrame]:
    """In-process predict with the champion, loaded once (the artifact is large)."""
    import mlflow

    mlflow.set_tracking_uri(trained_model.tracking_uri)
    mlflow.set_registry_uri(trained_model.tracking_uri)
    model = mlflow.pyfunc.load_model(CHAMPION_URI)

    def predict(frame: pd.DataFrame, params: dict[str, object] | None = None) -> pd.DataFrame:
        return model.predict(frame, params=params)

    return predict
