"""Model signature and input example.

``title`` is a required string. The other inputs are optional and declared ``Any``: MLflow's
own check rejects int64 for a double column (a notebook user's integer prices must work) and
an all-empty string column that pandas read as float NaN (a CSV with no seller ids must work).
``features.schema.clean_input`` coerces every optional field and reports unusable values per row.
"""

from __future__ import annotations

import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types.schema import AnyType, ColSpec, Schema

from features.schema import CATEGORICAL_FIELDS, NUMERIC_FIELDS, TITLE
from pyfunc_model.output import output_schema
from pyfunc_model.params import param_schema


def model_signature() -> ModelSignature:
    inputs = Schema(
        [ColSpec("string", TITLE)]
        + [ColSpec(AnyType(), f, required=False) for f in CATEGORICAL_FIELDS + NUMERIC_FIELDS]
    )
    return ModelSignature(inputs=inputs, outputs=output_schema(), params=param_schema())


def input_example(frame: pd.DataFrame) -> pd.DataFrame:
    """Two real-looking rows: one with every field, one with the title only."""
    row = frame.iloc[[0]].copy()
    full = {
        "title": str(row["title"].iat[0]),
        "seller_id": "seller-001",
        "brand": "",
        "subcategory": "",
        "price": 1299.0,
        "rating": 4.2,
        "reviews_count": 120.0,
    }
    for f in ("brand", "subcategory", "seller_id"):
        if f in row and pd.notna(row[f].iat[0]):
            full[f] = str(row[f].iat[0])
    for f in NUMERIC_FIELDS:
        if f in row and pd.notna(row[f].iat[0]):
            full[f] = float(row[f].iat[0])
    title_only = {"title": str(frame["title"].iat[min(1, len(frame) - 1)])}
    example = pd.DataFrame([full, title_only])
    return example
