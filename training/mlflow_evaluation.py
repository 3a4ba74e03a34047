"""MLflow's own classifier evaluation of a logged or registered model.

``python -m training.mlflow_evaluation --model-uri models:/product-classifier@champion --data PATH``

``mlflow.models.evaluate(model_type="classifier")`` expects a model that answers with one column
of labels; this model answers with a frame (category, confidence, probabilities, ...). The
artifact declares a load-time ``model_config`` (pyfunc_model/model_config.py), so the evaluation
loads the SAME registered artifact with ``{"output": "label"}`` and MLflow logs its usual
classifier metrics (accuracy, weighted precision/recall/F1), the per-class metrics table, the
confusion matrix plot and the evaluation table into the run, linked to the logged model. The
product's headline metric, macro-F1, is added as an extra metric. The call, without this module::

    mlflow.models.evaluate(
        "models:/product-classifier@champion", data, model_type="classifier", targets="category",
        model_config={"output": "label"},
    )

Probability metrics (log loss, ROC AUC) need ``predict_proba``, which MLflow only takes from
scikit-learn/XGBoost/CatBoost flavours; training logs calibration (ECE) itself.
"""

from __future__ import annotations

import argparse
import logging
import sys

import mlflow
import pandas as pd
from mlflow.metrics import MetricValue
from mlflow.models import EvaluationResult, make_metric

from features.schema import LABEL
from pyfunc_model.model_config import LABEL_OUTPUT, OUTPUT_KEY
from training.data import load_products, title_only
from training.evaluate import macro_f1

log = logging.getLogger("training.mlflow_evaluation")
#: Load-time config that makes the artifact answer like a single-column classifier.
LABEL_ONLY_CONFIG = {OUTPUT_KEY: LABEL_OUTPUT}


def _macro_f1(predictions: pd.Series, targets: pd.Series) -> MetricValue:
    return MetricValue(aggregate_results={"macro_f1": macro_f1(targets.to_numpy(), predictions.to_numpy())})


MACRO_F1 = make_metric(eval_fn=_macro_f1, greater_is_better=True, name="macro_f1")


def evaluate_with_mlflow(model_uri: str, data: pd.DataFrame, label_list: list[str] | None = None) -> EvaluationResult:
    """Run MLflow's classifier evaluator on ``data`` (model inputs plus ``category``) in the active run.

    ``label_list`` fixes the classes the per-class table and confusion matrix show (default: the
    labels seen in ``data`` and in the predictions).
    """
    if LABEL not in data.columns:
        raise ValueError(f"evaluation data has no '{LABEL}' column (columns: {list(data.columns)})")
    config = {"log_model_explainability": False}  # SHAP cannot explain text titles or string labels
    if label_list is not None:
        config["label_list"] = label_list
    return mlflow.models.evaluate(
        model_uri,
        data,
        model_type="classifier",
        targets=LABEL,
        model_config=LABEL_ONLY_CONFIG,
        evaluator_config=config,
        extra_metrics=[MACRO_F1],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-uri", required=True, help="e.g. models:/product-classifier@champion")
    parser.add_argument("--data", required=True, help="CSV/Parquet of labelled listings (see training.data)")
    parser.add_argument("--title-only", action="store_true", help="drop subcategory, brand and seller first")
    parser.add_argument("--experiment", default="product-classifier-evaluation")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stderr)
    frame, fingerprint = load_products(args.data)
    if args.title_only:
        frame = title_only(frame)
    mlflow.set_experiment(args.experiment)
    with mlflow.start_run() as run:
        mlflow.log_params({"model_uri": args.model_uri, "data_path": fingerprint.path, "title_only": args.title_only})
        result = evaluate_with_mlflow(args.model_uri, frame)
    for key, value in sorted(result.metrics.items()):
        log.info("  %-24s %.4f", key, value)
    print(f"run_id={run.info.run_id}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
