"""``mlflow.models.evaluate(model_type="classifier")`` runs on the registered model and logs MLflow's own output.

Why: a data scientist's standard evaluation must work on the artifact as registered, through the
documented load-time ``model_config``, and agree with the model's own full-output predictions.
"""

from __future__ import annotations

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from features.schema import LABEL
from pyfunc_model.model_config import DEFAULT_MODEL_CONFIG, LABEL_COLUMN, OUTPUT_KEY
from tests.serving.model_fixtures import CHAMPION_URI, TrainedModel
from training.data import title_only
from training.evaluate import macro_f1
from training.mlflow_evaluation import LABEL_ONLY_CONFIG, evaluate_with_mlflow
from training.synthetic import generate_synthetic_products

pytestmark = pytest.mark.slow


@pytest.fixture()
def champion_store(trained_model: TrainedModel) -> TrainedModel:
    mlflow.set_tracking_uri(trained_model.tracking_uri)
    mlflow.set_registry_uri(trained_model.tracking_uri)
    return trained_model


def evaluation_data() -> pd.DataFrame:
    """Labelled rows; the title-only half makes the model err sometimes, so the metrics are not all 1."""
    frame = generate_synthetic_products(400, seed=21)
    return pd.concat([frame.iloc[:200], title_only(frame.iloc[200:])], ignore_index=True)


def test_mlflow_classifier_evaluation_on_the_registered_model(champion_store: TrainedModel) -> None:
    data = evaluation_data()
    mlflow.set_experiment("mlflow-evaluate")
    with mlflow.start_run() as run:
        result = evaluate_with_mlflow(CHAMPION_URI, data)

    full = mlflow.pyfunc.load_model(CHAMPION_URI).predict(data.drop(columns=LABEL))
    expected_pred = full[LABEL_COLUMN].to_numpy()
    y = data[LABEL].to_numpy()
    assert result.metrics["example_count"] == len(data)
    assert result.metrics["accuracy_score"] == pytest.approx(float((expected_pred == y).mean()))
    assert result.metrics["macro_f1"] == pytest.approx(macro_f1(y, expected_pred))
    assert {"precision_score", "recall_score", "f1_score"} <= set(result.metrics)

    logged = MlflowClient().get_run(run.info.run_id).data.metrics
    assert logged["accuracy_score"] == pytest.approx(result.metrics["accuracy_score"])
    assert {"confusion_matrix", "per_class_metrics"} <= set(result.artifacts)
    files = {a.path for a in MlflowClient().list_artifacts(run.info.run_id)}
    assert any(p.startswith("confusion_matrix") and p.endswith(".png") for p in files), files


def test_label_output_is_the_full_outputs_category_column(champion_store: TrainedModel) -> None:
    frame = generate_synthetic_products(50, seed=22).drop(columns=LABEL)
    labels = mlflow.pyfunc.load_model(CHAMPION_URI, model_config=LABEL_ONLY_CONFIG).predict(frame)
    full = mlflow.pyfunc.load_model(CHAMPION_URI).predict(frame)
    assert isinstance(labels, pd.Series)
    assert labels.tolist() == full[LABEL_COLUMN].tolist()
    assert len(full.columns) > 1
    info = mlflow.models.get_model_info(CHAMPION_URI)
    assert info.flavors["python_function"]["config"] == DEFAULT_MODEL_CONFIG


def test_unknown_output_mode_is_refused_by_name(champion_store: TrainedModel) -> None:
    with pytest.raises(MlflowException, match=f"model_config '{OUTPUT_KEY}'.*'labels'"):
        mlflow.pyfunc.load_model(CHAMPION_URI, model_config={OUTPUT_KEY: "labels"})
