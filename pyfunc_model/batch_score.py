"""Batch scoring on Spark: ``python -m pyfunc_model.batch_score --model-uri URI --input PATH --output PATH``.

Reads CSV or Parquet, scores every row with the SAME pyfunc that serves REST (through Spark's
``mapInArrow``, one model load per Python worker: ``pyfunc_model/spark_worker.py``) and writes
Parquet: the input columns plus one struct column ``prediction`` holding the documented output
columns. ``--master`` is a parameter so the command
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
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features.schema import CATEGORICAL_FIELDS, INPUT_COLUMNS, TITLE
from pyfunc_model.output import OUTPUT_FIELDS, SPARK_RESULT_TYPE

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger("batch_score")

PREDICTION_COLUMN = "prediction"
#: Spark type of ``prediction``: the model's output columns in order (``pyfunc_model.output``).
RESULT_TYPE = SPARK_RESULT_TYPE
#: Prefix of the private columns holding inputs cast for the model (never written out).
CAST_PREFIX = "__product_classifier_input_"
#: File name prefix of the model archive shipped to the executors.
ARCHIVE_PREFIX = "product-classifier-model-"


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


def model_inputs(df: DataFrame) -> tuple[DataFrame, tuple[tuple[str, str], ...]]:
    """``df`` with the model's inputs made ready, and (input name, column holding it) per input present.

    Title and categorical fields are read as strings (a numeric brand code is still a brand);
    numeric fields are declared Any and keep their own type. A column that needs a cast is added
    under a private name, so the user's columns go out unchanged. Absent optional inputs stay
    absent, as in a REST request.
    """
    from pyspark.sql import functions as F

    if TITLE not in df.columns:
        raise ValueError(f"input has no '{TITLE}' column (columns: {df.columns})")
    types = dict(df.dtypes)
    added, inputs = [], []
    for name in INPUT_COLUMNS:
        if name not in df.columns:
            continue
        if name in (TITLE, *CATEGORICAL_FIELDS) and types[name] != "string":
            added.append(F.col(name).cast("string").alias(f"{CAST_PREFIX}{name}"))
            inputs.append((name, f"{CAST_PREFIX}{name}"))
        else:
            inputs.append((name, name))
    return (df.select("*", *added) if added else df), tuple(inputs)


def ship_model(spark: SparkSession, model_uri: str) -> str:
    """Download the model once on the driver and hand it to every executor as an archive.

    Returns the archive's file name, unique per call: ``SparkFiles.get(name)`` is the unpacked
    model folder on each executor (see ``pyfunc_model/spark_worker.py``).
    """
    import atexit
    import shutil
    import tempfile
    import uuid

    import mlflow

    staging = Path(tempfile.mkdtemp(prefix="product-classifier-batch-"))
    atexit.register(shutil.rmtree, staging, ignore_errors=True)
    local = mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=str(staging / "model"))
    name = f"{ARCHIVE_PREFIX}{uuid.uuid4().hex[:12]}"
    archive = shutil.make_archive(str(staging / name), "zip", root_dir=local)
    spark.sparkContext.addArchive(archive)
    return Path(archive).name


def score(spark: SparkSession, df: DataFrame, model_uri: str, params: dict[str, Any] | None = None) -> DataFrame:
    """``df`` with a struct column ``prediction`` appended: N rows in, N rows out, in order.

    Lazy: nothing runs until an action. Each Python worker loads the model once
    (``DataFrame.mapInArrow`` + ``pyfunc_model.spark_worker``).
    """
    from pyspark.sql.types import StructField, StructType

    from pyfunc_model import spark_worker

    if PREDICTION_COLUMN in df.columns:
        raise ValueError(
            f"input already has a '{PREDICTION_COLUMN}' column: rename or drop it, the scores are written there"
        )
    prepared, inputs = model_inputs(df)
    plan = spark_worker.ScoringPlan(
        archive=ship_model(spark, model_uri),
        passthrough=tuple(df.columns),
        inputs=inputs,
        output_column=PREDICTION_COLUMN,
        output_fields=tuple((f.name, f.spark_type) for f in OUTPUT_FIELDS),
        params=params or None,
    )
    schema = StructType([*df.schema.fields, StructField(PREDICTION_COLUMN, StructType.fromDDL(RESULT_TYPE))])
    return prepared.mapInArrow(spark_worker.make_scorer(plan), schema)


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


def summarize_run(spark: SparkSession, args: argparse.Namespace, rows: int, seconds: float) -> dict[str, Any]:
    """Drift and routing summary next to the output (and on the MLflow run, if one is active)."""
    from pyfunc_model.observability import batch_summary

    summary = batch_summary.summarize_predictions(spark.read.parquet(args.output), PREDICTION_COLUMN)
    path = batch_summary.write_summary(summary, args.output)
    job = {"model_uri": args.model_uri, "input": args.input, "output": args.output, "seconds": round(seconds, 2)}
    run_id = batch_summary.log_to_mlflow(summary, job)
    log.info(
        "routes %s, drift on %d of %d rows, summary -> %s",
        summary["rows_by_model_used"],
        summary["drift_rows"],
        rows,
        str(path) if path else (f"MLflow run {run_id}" if run_id else "(none: remote output and no MLflow run)"),
    )
    return {"summary": str(path) if path else None, "mlflow_run_id": run_id}


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
        report = summarize_run(spark, args, rows, seconds)
        print(json.dumps({"rows": rows, "seconds": round(seconds, 2), "output": args.output, **report}))
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
