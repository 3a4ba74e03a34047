"""``spark_udf_worker``'s map conversion must give exactly what MLflow's own conversion gives.

It replaces ``mlflow.pyfunc._convert_struct_values`` for map columns inside Spark workers; this
test calls both on the same predictions (no Spark session needed), so an MLflow upgrade that
renames or changes the function fails here instead of silently changing the Parquet output.
"""

from __future__ import annotations

import math

import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from pyspark.sql.types import BooleanType, DoubleType, MapType, StringType, StructField, StructType

from pyfunc_model.batch_score import PREDICTION_FIELDS
from pyfunc_model.spark_udf_worker import _fast_struct_values

SPARK_TYPES = {
    "string": StringType(),
    "double": DoubleType(),
    "boolean": BooleanType(),
    "map<string,double>": MapType(StringType(), DoubleType()),
}
RESULT_TYPE = StructType([StructField(name, SPARK_TYPES[dtype]) for name, dtype in PREDICTION_FIELDS])


def predictions() -> pd.DataFrame:
    """Output rows as the model writes them, with the awkward values a map can hold."""
    probabilities = [
        {"electronics": 0.75, "books": 0.25},
        {"electronics": float("nan"), "books": None},
        {"electronics": np.float32(0.5), "books": np.float64(0.5)},
        {},
    ]
    n = len(probabilities)
    return pd.DataFrame(
        {
            "category": ["electronics", "books", "electronics", "books"],
            "confidence": [0.75, float("nan"), 0.5, 0.1],
            "probabilities": probabilities,
            "model_used": ["primary"] * n,
            "fallback_reason": [""] * n,
            "drift_detected": [False, True, False, False],
            "drift_score": [0.0] * n,
            "drift_scope": ["batch"] * n,
            "ood_reasons": ["", "title_empty", "", ""],
        }
    )


def same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    return a == b and type(a) is type(b)


def test_fast_map_conversion_equals_mlflows() -> None:
    original = getattr(mlflow.pyfunc, "_convert_struct_values", None)
    if original is None:
        pytest.fail("mlflow.pyfunc._convert_struct_values is gone: spark_udf_worker's map patch would do nothing")
    frame = predictions()
    expected = original(frame.copy(), RESULT_TYPE)
    got = _fast_struct_values(original)(frame.copy(), RESULT_TYPE)
    assert list(got.columns) == list(expected.columns)
    for column in expected.columns:
        for a, b in zip(expected[column].tolist(), got[column].tolist(), strict=True):
            if isinstance(a, dict):
                assert a.keys() == b.keys() and all(same(a[k], b[k]) for k in a), (column, a, b)
            else:
                assert same(a, b), (column, a, b)
