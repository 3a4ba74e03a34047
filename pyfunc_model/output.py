"""The output contract, said once: column names and types (MLflow signature, Spark struct) and the
frame ``predict`` returns.

``signature.py``, ``batch_score.py``, ``model.py`` and the tests import it; a new output column
is one entry in :data:`OUTPUT_FIELDS` plus the value ``predict`` passes for it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from mlflow.types.schema import ColSpec, DataType, Map, Schema

from features.frames import array_frame


@dataclass(frozen=True)
class OutputField:
    name: str
    mlflow_type: str  # an MLflow DataType name, or "map<string,double>"
    spark_type: str


OUTPUT_FIELDS: tuple[OutputField, ...] = (
    OutputField("category", "string", "string"),
    OutputField("confidence", "double", "double"),
    OutputField("probabilities", "map<string,double>", "map<string,double>"),
    OutputField("model_used", "string", "string"),
    OutputField("fallback_reason", "string", "string"),
    OutputField("drift_detected", "boolean", "boolean"),
    OutputField("drift_score", "double", "double"),
    OutputField("drift_scope", "string", "string"),
    OutputField("ood_reasons", "string", "string"),
    OutputField("needs_review", "boolean", "boolean"),
)
OUTPUT_COLUMNS: tuple[str, ...] = tuple(f.name for f in OUTPUT_FIELDS)
#: numpy dtype of each column in the returned frame (strings and maps stay Python objects).
_NUMPY_DTYPES = {"string": object, "double": np.float64, "boolean": np.bool_, "map<string,double>": object}
#: Spark struct type of one prediction (``spark_udf``'s ``result_type``).
SPARK_RESULT_TYPE = ", ".join(f"{f.name} {f.spark_type}" for f in OUTPUT_FIELDS)


def output_schema() -> Schema:
    """The signature's output schema."""
    return Schema(
        [
            ColSpec(Map(DataType.double) if f.mlflow_type.startswith("map") else f.mlflow_type, f.name)
            for f in OUTPUT_FIELDS
        ]
    )


def probability_maps(classes: Sequence[str], proba: np.ndarray) -> np.ndarray:
    """One ``{class: probability}`` dict per row, as an object array (the ``probabilities`` column)."""
    out = np.empty(len(proba), dtype=object)
    out[:] = list(map(dict, map(zip, itertools.repeat(classes), proba.tolist())))
    return out


def prediction_frame(classes: Sequence[str], proba: np.ndarray, **columns: object) -> pd.DataFrame:
    """The frame ``predict`` returns: category, confidence and probabilities from ``proba`` (rows x
    classes), every other output column from ``columns`` (an array per row, or one value for all)."""
    n = len(proba)
    best = proba.argmax(axis=1) if n else np.zeros(0, dtype=np.int64)
    values: dict[str, object] = {
        "category": np.asarray(classes, dtype=object)[best],
        "confidence": proba[np.arange(n), best] if n else np.zeros(0),
        "probabilities": probability_maps(classes, proba),
        **columns,
    }
    missing = set(OUTPUT_COLUMNS) - set(values)
    extra = set(values) - set(OUTPUT_COLUMNS)
    if missing or extra:
        raise ValueError(f"output columns: missing {sorted(missing)}, unknown {sorted(extra)}")
    arrays = []
    for f in OUTPUT_FIELDS:
        dtype = _NUMPY_DTYPES[f.mlflow_type]
        value = values[f.name]
        if isinstance(value, np.ndarray) and value.shape == (n,):
            arrays.append(value if value.dtype == dtype else value.astype(dtype))
        else:  # one value for the whole batch
            arr = np.empty(n, dtype=dtype)
            arr[:] = value
            arrays.append(arr)
    return array_frame(OUTPUT_COLUMNS, arrays)


def empty_prediction_frame() -> pd.DataFrame:
    """No rows, every output column with its dtype."""
    return array_frame(OUTPUT_COLUMNS, [np.zeros(0, dtype=_NUMPY_DTYPES[f.mlflow_type]) for f in OUTPUT_FIELDS])
