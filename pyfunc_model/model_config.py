"""Load-time model configuration: ``mlflow.pyfunc.load_model(uri, model_config={"output": "label"})``.

The model answers with several columns (``docs/ARCHITECTURE.md``, "Output"). Tools that expect a
classifier to answer with ONE column of labels, above all ``mlflow.models.evaluate(...,
model_type="classifier")``, take the model's prediction as a whole and fail on a frame. MLflow's
documented way to change how a loaded model behaves is its ``model_config``: the artifact declares
``{"output": "full"}`` when logged, and a caller overrides it at load time (``load_model``,
``mlflow.models.evaluate(model_config=...)``, or the ``MLFLOW_PYFUNC_INFERENCE_CONFIG`` variable).
Serving, Spark and notebooks load without overrides and keep the full output.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

from pyfunc_model.output import OUTPUT_COLUMNS

OUTPUT_KEY = "output"
#: Every output column (the default, what serving returns).
FULL_OUTPUT = "full"
#: Only the predicted category, as a Series: what a single-column classifier returns.
LABEL_OUTPUT = "label"
OUTPUT_MODES = (FULL_OUTPUT, LABEL_OUTPUT)
#: Declared in the logged artifact: MLflow accepts load-time overrides only for declared keys.
DEFAULT_MODEL_CONFIG: dict[str, Any] = {OUTPUT_KEY: FULL_OUTPUT}
#: The output column that holds the predicted label.
LABEL_COLUMN = OUTPUT_COLUMNS[0]


def parse_output_mode(model_config: Mapping[str, Any] | None) -> str:
    """The output mode a model was loaded with; an unknown value is refused at load time, by name."""
    mode = (model_config or {}).get(OUTPUT_KEY, FULL_OUTPUT)
    if mode not in OUTPUT_MODES:
        raise MlflowException(
            f"Invalid model_config '{OUTPUT_KEY}': must be one of {list(OUTPUT_MODES)}, got {mode!r}",
            error_code=INVALID_PARAMETER_VALUE,
        )
    return mode


def select_output(predictions: pd.DataFrame, mode: str) -> pd.DataFrame | pd.Series:
    """The full prediction frame, or its label column alone."""
    return predictions[LABEL_COLUMN] if mode == LABEL_OUTPUT else predictions
