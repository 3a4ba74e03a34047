"""Warm Spark batch throughput (rows/s) of the champion on local[2] beside in-process ``predict`` on the same rows.

Why warm: the first pass pays JVM start, Python workers and one model load per worker; a batch job
over millions of rows is dominated by the steady state. Why in-process beside it: Spark adds no
model work, so the ratio Spark / in-process (``load_model(...).predict`` over the same rows in
Arrow-batch-sized chunks, in this process, alternating with the Spark passes) is what the Spark
path costs on this machine. Target: warm Spark >= 0.9x in-process.

    MLFLOW_TRACKING_URI=sqlite:///mlflow.db python bench/spark_throughput.py [--rows 100000] [--passes 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from features.schema import INPUT_COLUMNS  # noqa: E402
from pyfunc_model.batch_score import PREDICTION_COLUMN, RESULT_TYPE, build_spark, score  # noqa: E402
from tests.serving.model_fixtures import sample_products  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-uri", default="models:/product-classifier@champion")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--passes", type=int, default=3, help="warm passes after the cold one")
    parser.add_argument("--master", default="local[2]")
    parser.add_argument(
        "--source",
        default="auto",
        choices=["auto", "real", "synthetic"],
        help="rows to score: real amazon.in rows (auto, when present) or synthetic ones",
    )
    parser.add_argument(
        "--plain",
        action="store_true",
        help="score with a bare mlflow.pyfunc.spark_udf (every input, in signature order) for comparison",
    )
    args = parser.parse_args(argv)

    spark = build_spark(args.master, "product-classifier-throughput")
    spark.sparkContext.setLogLevel("ERROR")
    try:
        cores = spark.sparkContext.defaultParallelism
        pdf = sample_products(args.rows, seed=321, source=args.source)
        df = spark.createDataFrame(pdf.astype(object).where(pdf.notna(), None)).repartition(cores).cache()
        df.count()
        import mlflow

        if args.plain:
            udf = mlflow.pyfunc.spark_udf(spark, args.model_uri, result_type=RESULT_TYPE, env_manager="local")
            scored = df.withColumn(PREDICTION_COLUMN, udf(*INPUT_COLUMNS))
        else:
            scored = score(spark, df, args.model_uri)

        local = mlflow.pyfunc.load_model(args.model_uri)
        chunk = int(spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch", "10000"))

        def one_pass() -> float:
            start = time.perf_counter()
            scored.write.format("noop").mode("overwrite").save()  # computes every row, writes nothing
            return time.perf_counter() - start

        def in_process() -> float:
            start = time.perf_counter()
            for i in range(0, len(pdf), chunk):
                local.predict(pdf.iloc[i : i + chunk])
            return time.perf_counter() - start

        cold = one_pass()
        warm, local_times = [], []
        for _ in range(args.passes):
            warm.append(one_pass())
            local_times.append(in_process())
        median, local_median = statistics.median(warm), statistics.median(local_times)
        path = "bare mlflow spark_udf" if args.plain else "batch_score.score (mapInArrow, one load per Python worker)"
        print(f"\nmodel {args.model_uri}; {args.rows} {args.source} rows on {args.master} ({cores} partitions); {path}")
        print(f"cold pass (incl. model load per worker): {cold:.2f}s = {args.rows / cold:,.0f} rows/s")
        print("warm passes: " + ", ".join(f"{t:.2f}s" for t in warm))
        print(f"warm median: {median:.2f}s = {args.rows / median:,.0f} rows/s")
        print(
            f"in-process load_model(...).predict, same rows in {chunk:,}-row chunks: "
            + ", ".join(f"{t:.2f}s" for t in local_times)
            + f"; median {args.rows / local_median:,.0f} rows/s"
        )
        print(f"Spark / in-process: {local_median / median:.2f}x (target >= 0.9x)")
        # Which route answered matters: fallback rows cost more than primary ones.
        routes = scored.groupBy("prediction.model_used").count().collect()
        print("routes: " + ", ".join(f"{r['model_used']}={r['count']}" for r in routes))
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
