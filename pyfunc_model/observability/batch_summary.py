"""What a batch scoring job saw: routes, reroute reasons, drift and out-of-distribution rows.

Computed with Spark aggregations over the written predictions (nothing is collected per row),
written as JSON next to the output and logged to MLflow when the job runs inside a run
(``mlflow run`` sets ``MLFLOW_RUN_ID``), so a scheduled job leaves the same trace as a served model.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyfunc_model.observability.labels import reason_label
from pyfunc_model.observability.logs import log_event

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

SUMMARY_SUFFIX = ".summary.json"
SUMMARY_ARTIFACT = "batch_score/summary.json"


def summarize_predictions(scored: DataFrame, prediction_column: str = "prediction") -> dict[str, Any]:
    """Counts and shares over the ``prediction`` struct; reasons normalised to the metric labels."""
    from pyspark.sql import functions as F

    p = F.col(prediction_column)
    totals = scored.agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum(p["drift_detected"].cast("int")).alias("drift_rows"),
        F.max(p["drift_score"]).alias("max_drift_score"),
        F.avg(p["drift_score"]).alias("mean_drift_score"),
        F.avg(p["confidence"]).alias("mean_confidence"),
    ).first()
    rows = int(totals["rows"] or 0)
    routes = {r[0]: int(r[1]) for r in scored.groupBy(p["model_used"]).count().collect()}
    reasons: dict[str, int] = {}
    drifted_inputs: dict[str, int] = {}
    for reason, count in scored.where(p["fallback_reason"] != "").groupBy(p["fallback_reason"]).count().collect():
        label = reason_label(reason)
        reasons[label] = reasons.get(label, 0) + int(count)
        if label == "drift":
            for name in reason.partition(":")[2].split(","):
                drifted_inputs[name] = drifted_inputs.get(name, 0) + int(count)
    ood = (
        scored.select(F.explode(F.split(p["ood_reasons"], ";")).alias("reason"))
        .where(F.col("reason") != "")
        .groupBy("reason")
        .count()
        .collect()
    )

    def share(k: float) -> float:
        return round(k / rows, 6) if rows else 0.0

    drift_rows = int(totals["drift_rows"] or 0)
    return {
        "rows": rows,
        "rows_by_model_used": dict(sorted(routes.items())),
        "fallback_share": share(rows - routes.get("primary", 0)),
        "rows_rerouted_by_reason": dict(sorted(reasons.items())),
        "rows_rerouted_for_drift_by_input": dict(sorted(drifted_inputs.items())),
        "drift_rows": drift_rows,
        "drift_share": share(drift_rows),
        "max_drift_score": float(totals["max_drift_score"] or 0.0),
        "mean_drift_score": float(totals["mean_drift_score"] or 0.0),
        "mean_confidence": float(totals["mean_confidence"] or 0.0),
        "ood_rows_by_reason": dict(sorted((r, int(c)) for r, c in ood)),
    }


def summary_path(output: str) -> Path | None:
    """``<output>.summary.json`` beside a local output folder; None for remote outputs (s3://, hdfs://)."""
    if "://" in output and not output.startswith("file://"):
        return None
    return Path(output.removeprefix("file://").rstrip("/") + SUMMARY_SUFFIX)


def write_summary(summary: dict[str, Any], output: str) -> Path | None:
    path = summary_path(output)
    if path is not None:
        path.write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return path


def log_to_mlflow(summary: dict[str, Any], extra: dict[str, Any]) -> str | None:
    """Log the summary (artifact + headline metrics) to the active run, or to ``MLFLOW_RUN_ID``'s run."""
    import mlflow

    run = mlflow.active_run()
    run_id = run.info.run_id if run else os.environ.get("MLFLOW_RUN_ID")
    if not run_id:
        return None
    metrics = {
        f"batch_{k}": float(summary[k])
        for k in ("rows", "fallback_share", "drift_share", "max_drift_score", "mean_confidence")
    }
    if run is not None:
        mlflow.log_dict({**summary, **extra}, SUMMARY_ARTIFACT)
        mlflow.log_metrics(metrics)
    else:
        with mlflow.start_run(run_id=run_id):
            mlflow.log_dict({**summary, **extra}, SUMMARY_ARTIFACT)
            mlflow.log_metrics(metrics)
    log_event(logging.INFO, "batch_summary_logged", f"batch summary logged to run {run_id}", run_id=run_id)
    return run_id
