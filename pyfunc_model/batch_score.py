"""Batch scoring on Spark: ``python -m pyfunc_model.batch_score --model-uri URI --input PATH --output PATH``.

Reads CSV or Parquet, scores every row with the SAME pyfunc that serves REST (through
``mlflow.pyfunc.spark_udf``) and writes Parquet: the input columns plus one struct column
``prediction`` holding the documented output columns. ``--master`` is a parameter so the command
that runs on ``local[2]`` here runs unchanged on a cluster. Serving code: never imports ``training``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from features.schema import CATEGORICAL_FIELDS, INPUT_COLUMNS, NUMERIC_FIELDS, TITLE

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

log = logging.getLogger("batch_score")

PREDICTION_COLUMN = "prediction"
#: Spark type of ``prediction``: the model's output columns in order (docs/ARCHITECTURE.md, "Output").
PREDICTION_FIELDS: tuple[tuple[str, str], ...] = (
    ("category", "string"),
    ("confidence", "double"),
    ("probabilities", "map<string,double>"),
    ("model_used", "string"),
    ("fallback_reason", "string"),
    ("drift_detected", "boolean"),
    ("drift_score", "double"),
    ("drift_scope", "string"),
    ("ood_reasons", "string"),
)
RESULT_TYPE = ", ".join(f"{name} {dtype}" for name, dtype in PREDICTION_FIELDS)


def build_spark(master: str | None, app_name: str = "product-classifier-batch-score") -> SparkSession:
    """A Spark session whose Python workers use this interpreter unless PYSPARK_PYTHON says otherwise.

    Without it, local workers start a system python that lacks pandas/mlflow.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name).config("spark.sql.execution.arrow.pyspark.enabled", "true")
    if master:
        builder = builder.master(master)
    return builder.getOrCreate()


def read_input(spark: SparkSession, path: str, fmt: str | None = None) -> DataFrame:
    """CSV (every column read as string: the model parses "₹1,299" itself) or Parquet, by suffix or ``fmt``."""
    fmt = fmt or ("parquet" if path.rstrip("/").lower().endswith((".parquet", ".pq")) or os.path.isdir(path) else "csv")
    if fmt == "parquet":
        return spark.read.parquet(path)
    if fmt == "csv":
        return (
            spark.read.option("header", "true")
            .option("multiLine", "true")
            .option("escape", '"')
            .option("inferSchema", "false")
            .csv(path)
        )
    raise ValueError(f"unsupported input format {fmt!r}: use csv or parquet")


def model_inputs(df: DataFrame) -> list[Column]:
    """The model's input columns in signature order; absent optional ones become typed nulls.

    spark_udf needs explicit columns when the signature has optional inputs, and the file may lack them.
    """
    from pyspark.sql import functions as F

    if TITLE not in df.columns:
        raise ValueError(f"input has no '{TITLE}' column (columns: {df.columns})")
    cols: list[Column] = []
    for name in INPUT_COLUMNS:
        if name in df.columns:
            col = F.col(name)
            # Strings stay strings; numeric fields are declared Any and keep their own type.
            cols.append(col.cast("string").alias(name) if name in (TITLE, *CATEGORICAL_FIELDS) else col.alias(name))
        else:
            dtype = "double" if name in NUMERIC_FIELDS else "string"
            cols.append(F.lit(None).cast(dtype).alias(name))
    return cols


def score(
    spark: SparkSession,
    df: DataFrame,
    model_uri: str,
    params: dict[str, Any] | None = None,
    env_manager: str = "local",
    accelerated: bool = True,
) -> DataFrame:
    """``df`` with a struct column ``prediction`` appended (lazy: nothing runs until an action)."""
    import mlflow.pyfunc

    from pyfunc_model.spark_udf_worker import accelerate

    udf = mlflow.pyfunc.spark_udf(
        spark, model_uri, result_type=RESULT_TYPE, env_manager=env_manager, params=params or None
    )
    if accelerated:
        # Same spark_udf, minus a model load per task and mlflow's per-value map conversion
        # (~40% of the UDF's time): see pyfunc_model/spark_udf_worker.py.
        udf = accelerate(udf)
    return df.withColumn(PREDICTION_COLUMN, udf(*model_inputs(df)))


def spread(df: DataFrame, partitions: int | None) -> DataFrame:
    """At least one partition per core: a small CSV is one split, which would leave cores idle."""
    target = partitions or df.sparkSession.sparkContext.defaultParallelism
    return df.repartition(target) if df.rdd.getNumPartitions() < target else df


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pyfunc_model.batch_score", description=__doc__.splitlines()[0])
    parser.add_argument("--model-uri", required=True, help="e.g. models:/product-classifier@champion")
    parser.add_argument("--input", required=True, help="CSV file/folder or Parquet file/folder")
    parser.add_argument("--output", required=True, help="Parquet folder to write")
    parser.add_argument(
        "--master", default=None, help="Spark master, e.g. local[2]; default: spark-submit's or local[*]"
    )
    parser.add_argument("--input-format", choices=["csv", "parquet"], default=None, help="default: from the suffix")
    parser.add_argument("--params", default=None, help='predict params as JSON, e.g. \'{"on_drift": "fallback"}\'')
    parser.add_argument("--partitions", type=int, default=None, help="minimum partitions (default: cores)")
    parser.add_argument("--mode", default="errorifexists", choices=["errorifexists", "overwrite"])
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    params = json.loads(args.params) if args.params else None
    spark = build_spark(args.master)  # None: spark-submit's --master, else Spark's default local[*]
    try:
        started = time.perf_counter()
        df = spread(read_input(spark, args.input, args.input_format), args.partitions)
        scored = score(spark, df, args.model_uri, params)
        scored.write.mode(args.mode).parquet(args.output)
        rows = spark.read.parquet(args.output).count()
        seconds = time.perf_counter() - started
        log.info(
            "scored %d rows in %.1fs (%.0f rows/s incl. model load) -> %s", rows, seconds, rows / seconds, args.output
        )
        print(json.dumps({"rows": rows, "seconds": round(seconds, 2), "output": args.output}))
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
