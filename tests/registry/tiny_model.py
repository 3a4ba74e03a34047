"""Log a tiny pyfunc that is NOT a valid product classifier: ``python tiny_model.py`` prints ``run_id=...``.

It has no drift reference or fallbacks and requires an extra input column, so the gate must refuse
it; it is also the quickest model to log when a test only needs "some model" in a stack.
"""

from __future__ import annotations

import mlflow
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types.schema import ColSpec, Schema


class ConstantModel(mlflow.pyfunc.PythonModel):
    """Always answers 'books'."""

    def predict(self, context: object, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        return pd.DataFrame({"category": ["books"] * len(model_input)})


def main() -> None:
    signature = ModelSignature(
        inputs=Schema([ColSpec("string", "title"), ColSpec("string", "sku")]),
        outputs=Schema([ColSpec("string", "category")]),
    )
    mlflow.set_experiment("product-classifier")
    with mlflow.start_run() as run:
        mlflow.log_params(
            {"data_path": "synthetic:800", "data_sha256": "", "data_rows": 800, "seed": 42, "test_size": 0.2}
        )
        mlflow.log_metrics({"macro_f1": 0.1, "macro_f1_title_only": 0.1, "accuracy": 0.2, "ece": 0.5})
        mlflow.pyfunc.log_model(name="model", python_model=ConstantModel(), signature=signature)
    print(f"run_id={run.info.run_id}")


if __name__ == "__main__":
    main()
