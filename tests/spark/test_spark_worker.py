"""Batch scoring through ``mapInArrow`` beside a user's own ``mlflow.pyfunc.spark_udf``.

Why: ``batch_score`` no longer goes through MLflow's UDF, so (1) its Arrow output must carry what
``predict`` answered (nulls where Spark would put them), (2) each Python worker must load the
model once however many tasks it runs, (3) an input column named like the output is refused, and
(4) a user who calls ``mlflow.pyfunc.spark_udf`` on the same artifact gets plain MLflow behaviour
and the same answers.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
import pytest

from features.schema import INPUT_COLUMNS
from pyfunc_model.batch_score import PREDICTION_COLUMN, RESULT_TYPE, build_spark, score
from pyfunc_model.output import OUTPUT_FIELDS
from pyfunc_model.spark_worker import _CACHE_MODULE, prediction_struct
from tests.serving.model_fixtures import CHAMPION_URI, TrainedModel, sample_products

FIELDS = tuple((f.name, f.spark_type) for f in OUTPUT_FIELDS)
PARTITIONS = 6


def test_prediction_struct_keeps_values_and_nulls() -> None:
    frame = pd.DataFrame(
        {
            "category": ["electronics", "books", None],
            "confidence": [0.75, float("nan"), 0.5],
            "probabilities": [
                {"electronics": 0.75, "books": 0.25},
                {"electronics": float("nan"), "books": None},
                {"electronics": np.float32(0.5), "books": np.float64(0.5)},
            ],
            "model_used": ["primary", "fallback_title", "primary"],
            "fallback_reason": ["", "drift:title", ""],
            "drift_detected": np.array([False, True, False]),
            "drift_score": [0.0, 1.0, 0.25],
            "drift_scope": ["batch"] * 3,
            "ood_reasons": ["", "title_empty", ""],
            "needs_review": np.array([False, True, True]),
        }
    )
    rows = prediction_struct(frame, FIELDS).to_pylist()
    assert [r["category"] for r in rows] == ["electronics", "books", None]
    assert [r["confidence"] for r in rows] == [0.75, None, 0.5]
    assert [dict(r["probabilities"]) for r in rows] == [
        {"electronics": 0.75, "books": 0.25},
        {"electronics": None, "books": None},
        {"electronics": 0.5, "books": 0.5},
    ]
    assert [r["drift_detected"] for r in rows] == [False, True, False]
    assert [r["needs_review"] for r in rows] == [False, True, True]
    assert list(rows[0]) == [name for name, _ in FIELDS]


@pytest.fixture(scope="module")
def spark(trained_model: TrainedModel) -> Iterator[object]:
    """One Python worker (local[1]): every task of a job runs in the same reused process."""
    import os

    os.environ["MLFLOW_TRACKING_URI"] = trained_model.tracking_uri
    session = build_spark("local[1]", "product-classifier-spark-worker-test")
    yield session
    session.stop()


def worker_loads(spark: object) -> int:
    """Model loads counted in the (reused) Python worker, read by a job that runs there."""

    def probe(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        state = sys.modules.get(_CACHE_MODULE)
        for _ in batches:
            pass
        yield pd.DataFrame({"loads": [getattr(state, "loads", 0)]})

    return int(spark.range(1, numPartitions=1).mapInPandas(probe, "loads long").collect()[0]["loads"])  # type: ignore[attr-defined]


@pytest.mark.slow
@pytest.mark.spark
def test_one_load_per_worker_and_same_answers_as_spark_udf(
    spark: object, in_process: Callable[..., pd.DataFrame]
) -> None:
    import mlflow.pyfunc

    source = sample_products(600, seed=5, source="synthetic")[list(INPUT_COLUMNS)]
    source.insert(0, "row", range(len(source)))
    rows = source.astype(object).where(source.notna(), None)  # "₹1,299" strings and nulls
    df = spark.createDataFrame(rows).repartition(PARTITIONS, "row")  # type: ignore[attr-defined]
    before = worker_loads(spark)
    scored = score(spark, df, CHAMPION_URI).toPandas()  # type: ignore[arg-type]
    assert worker_loads(spark) - before == 1, f"{PARTITIONS} tasks on one Python worker must load the model once"

    assert list(scored.columns) == [*source.columns, PREDICTION_COLUMN] and len(scored) == len(source)
    scored = scored.sort_values("row").reset_index(drop=True)
    got = pd.DataFrame(scored[PREDICTION_COLUMN].tolist())
    expected = in_process(source[list(INPUT_COLUMNS)])
    assert got["category"].tolist() == expected["category"].tolist()
    assert got["confidence"].to_numpy() == pytest.approx(expected["confidence"].to_numpy(), abs=1e-9)

    # A user's own spark_udf on the same artifact: plain MLflow (every input, in signature order).
    udf = mlflow.pyfunc.spark_udf(spark, CHAMPION_URI, result_type=RESULT_TYPE, env_manager="local")
    users = df.withColumn("answer", udf(*INPUT_COLUMNS)).select("row", "answer.category").toPandas()
    users = users.sort_values("row").reset_index(drop=True)
    assert users["category"].tolist() == got["category"].tolist()


@pytest.mark.slow
@pytest.mark.spark
def test_input_with_a_prediction_column_is_refused(spark: object) -> None:
    df = spark.createDataFrame(pd.DataFrame({"title": ["Puma t-shirt"], PREDICTION_COLUMN: ["old"]}))  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match=f"already has a '{PREDICTION_COLUMN}' column"):
        score(spark, df, CHAMPION_URI)  # type: ignore[arg-type]
