"""Drift report for a logged model against a data file: HTML with per-feature plots + JSON.

    python -m training.drift_report --model-uri models:/product-classifier@champion \\
        --data ../shared/data/amazon_in_products.csv [--out drift_report] [--chunk-rows 200]
    python -m training.drift_report --data s3://bucket/traffic     # a capture (docs/CAPTURE.md)

The reference is the one inside the artifact (``unwrap_python_model().drift_reference``), so the
report judges the data exactly as serving does. The whole file is tested as one sample (large:
distance tests) and in chunks of ``--chunk-rows`` (p-value tests, as a request batch would be).
Both files are logged as artifacts of a new MLflow run, with the headline numbers as metrics.
A capture (folder or ``s3://``) is judged as served, all workers together, and also per day and
model version (``training.capture_drift``).
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.pipeline import ProductFeatures
from features.schema import CATEGORICAL_FIELDS, LABEL
from pyfunc_model.capture.read import is_capture
from pyfunc_model.drift import DriftMonitor, DriftReference, DriftVerdict, ood_flags, summarize
from pyfunc_model.drift.ood import sent_mask
from pyfunc_model.drift.profiles import drift_view
from pyfunc_model.drift.sketch import QUANTILE_LEVELS
from pyfunc_model.drift.specs import CATEGORICAL, NUMERIC, RowSummary
from pyfunc_model.drift.summary import token_shares
from training import capture_drift
from training.data import Fingerprint, load_products

log = logging.getLogger(__name__)


def load_reference(model: Any) -> DriftReference:
    """The drift reference the serving model uses (a clear error if the artifact has none)."""
    python_model = model.unwrap_python_model()
    reference = getattr(python_model, "drift_reference", None)
    if reference is None:
        raise SystemExit("the model does not expose .drift_reference; log it with a DriftReference first")
    return reference if isinstance(reference, DriftReference) else DriftReference.from_dict(reference)


def to_model_input(frame: pd.DataFrame) -> pd.DataFrame:
    """Canonical input columns as the signature wants them: an all-missing text column (read from
    a file as float NaN) becomes object/None, which MLflow's schema check accepts."""
    out = frame.drop(columns=[LABEL], errors="ignore").copy()
    for col in CATEGORICAL_FIELDS:
        if col in out.columns:
            out[col] = out[col].astype(object).where(out[col].notna(), None)
    return out


def model_confidence(model: Any, frame: pd.DataFrame, rows_per_call: int = 20_000) -> tuple[np.ndarray, np.ndarray]:
    """Max probability and predicted category per row, scored in bounded calls."""
    frame = to_model_input(frame)
    parts = [model.predict(frame.iloc[i : i + rows_per_call]) for i in range(0, len(frame), rows_per_call)]
    out = pd.concat(parts, ignore_index=True)
    return out["confidence"].to_numpy(dtype="float64"), out["category"].astype(str).to_numpy()


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def feature_plots(ref: DriftReference, summary: RowSummary, confidence: np.ndarray) -> dict[str, str]:
    """One PNG (base64) per monitored value: reference vs current."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots = {}
    for name in NUMERIC:
        sketch = ref.numeric.get(name)
        if sketch is None:  # a value the reference's artifact did not monitor yet
            continue
        values = summary.col(name)
        values = values[np.isfinite(values)]
        if not sketch.usable or values.size == 0:
            continue
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.plot(sketch.quantiles, QUANTILE_LEVELS, label="reference")
        ax.plot(np.quantile(values, QUANTILE_LEVELS), QUANTILE_LEVELS, label="current")
        ax.set(title=f"{name} (CDF)", xlabel=name, ylabel="share <= x")
        ax.legend()
        plots[name] = _png(fig)
    for field in CATEGORICAL:
        if not ref.monitored(field):
            continue
        cref = ref.categorical[field]
        buckets = summary.col(field)
        present = buckets[~np.isnan(buckets)].astype(np.int64)
        unseen = summary.col(f"{field}_unseen")
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3))
        k = 16 if "16" in cref.coarse else max(int(x) for x in cref.coarse)
        cur = np.bincount(present % k, minlength=k) / max(present.size, 1)
        a1.bar(np.arange(k) - 0.2, cref.coarse[str(k)], width=0.4, label="reference")
        a1.bar(np.arange(k) + 0.2, cur, width=0.4, label="current")
        a1.set(title=f"{field}: share per hash bucket", xlabel="bucket")
        a1.legend()
        current_unseen = float(np.nanmean(unseen)) if present.size else 0.0
        a2.bar(["expected", "current"], [cref.expected_unseen_share, current_unseen])
        a2.set(title=f"{field}: unseen share", ylim=(0, 1))
        plots[field] = _png(fig)
    shares, _ = token_shares(summary.tokens, 64)
    if shares.size:
        fig, ax = plt.subplots(figsize=(9, 3))
        ax.plot(ref.text_level(64)["mean"], label="reference")
        ax.plot(shares.mean(axis=0), label="current")
        ax.set(title="title tokens: mean share per hashed bucket (64)", xlabel="bucket")
        ax.legend()
        plots["title_tokens"] = _png(fig)
    conf = confidence[np.isfinite(confidence)]
    if conf.size and ref.confidence.sketch.usable:
        fig, ax = plt.subplots(figsize=(5, 3))
        ax.plot(ref.confidence.sketch.quantiles, QUANTILE_LEVELS, label="validation")
        ax.plot(np.quantile(conf, QUANTILE_LEVELS), QUANTILE_LEVELS, label="current")
        ax.axvline(ref.confidence.low_threshold, ls=":", c="grey")
        ax.set(title="confidence (CDF)", xlabel="max probability")
        ax.legend()
        plots["confidence"] = _png(fig)
    return plots


def chunk_verdicts(ref: DriftReference, summary: RowSummary, conf: np.ndarray, rows: int) -> list[DriftVerdict]:
    """Verdicts for consecutive chunks, in file order (arrival order when the file is a log)."""
    monitor = DriftMonitor(ref, window_size=max(rows, 30), min_batch=min(rows, 30))
    out = []
    for start in range(0, len(summary) - rows + 1, rows):
        part = RowSummary(summary.table[start : start + rows], summary.tokens[start : start + rows])
        out.append(monitor.check(None, conf[start : start + rows], summary=part))
    return out


def build_summary(
    ref: DriftReference,
    prepared: pd.DataFrame,
    conf: np.ndarray,
    labels: np.ndarray | None,
    predicted: np.ndarray,
    chunk_rows: int,
    shuffle: bool = False,
) -> tuple[dict[str, Any], RowSummary]:
    summary = summarize(prepared, ref)
    if shuffle:  # a file sorted by category makes every chunk look drifted; shuffle to judge batches
        order = np.random.default_rng(0).permutation(len(prepared))
        summary, conf = RowSummary(summary.table[order], summary.tokens[order]), conf[order]
        prepared = prepared.iloc[order].reset_index(drop=True)
        predicted = predicted[order]
        labels = labels[order] if labels is not None else None
    overall = DriftMonitor(ref, window_size=max(len(prepared), 30)).check(prepared, conf, summary=summary)
    chunks = chunk_verdicts(ref, summary, conf, chunk_rows)
    flags = ood_flags(prepared, ref, summary)
    fired = pd.Series([t for c in chunks for t in c.details["flagged_tests"]], dtype=object)
    report: dict[str, Any] = {
        "rows": len(prepared),
        "overall": asdict(overall),
        "chunks": {
            "rows_per_chunk": chunk_rows,
            "shuffled": shuffle,
            "n": len(chunks),
            "drifted_share": float(np.mean([c.drifted for c in chunks])) if chunks else 0.0,
            "score_median": float(np.median([c.score for c in chunks])) if chunks else 0.0,
            "flagged_tests": {str(k): int(v) for k, v in fired.value_counts().items()},
        },
        "ood_share": {reason: float(mask.mean()) for reason, mask in flags.items()},
        "estimated_accuracy": overall.estimated_accuracy,
        "validation_accuracy": ref.confidence.val_accuracy,
    }
    if labels is not None:
        report["actual_accuracy"] = float(np.mean(predicted == labels))
    return report, summary


def render_html(report: dict[str, Any], plots: dict[str, str], model_uri: str, data: str) -> str:
    overall = report["overall"]
    rows = "".join(
        "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{:.4g}</td><td>{}</td><td>{:.3g}</td><td>{}</td></tr>".format(
            ' class="bad"' if t["drifted"] else "",
            html.escape(t["name"]),
            html.escape(t["field"]),
            t["test"],
            t["statistic"],
            "" if t["p_value"] is None else f"{t['p_value']:.3g}",
            t["threshold"],
            t["drifted"],
        )
        for t in overall["details"]["tests"].values()
    )
    images = "".join(
        f'<figure><img src="data:image/png;base64,{png}" alt="{html.escape(name)}"><figcaption>{html.escape(name)}'
        "</figcaption></figure>"
        for name, png in plots.items()
    )
    acc = report.get("actual_accuracy")
    groups = "".join(
        "<tr{}><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.2f}</td><td>{}</td><td>{:.3f}</td><td>{:.1%}</td></tr>".format(
            ' class="bad"' if g["drifted"] else "",
            g["day"],
            html.escape(g["model_version"]),
            g["rows"],
            g["workers"],
            g["score"],
            html.escape(", ".join(g["drifted_features"]) or "-"),
            g["estimated_accuracy"],
            g["needs_review_share"],
        )
        for g in report.get("groups", [])
    )
    if groups:
        groups = (
            "<h2>Captured traffic by day and model version (all workers)</h2><table><tr><th>day (UTC)</th>"
            "<th>model version</th><th>rows</th><th>workers</th><th>score</th><th>drifted inputs</th>"
            f"<th>estimated accuracy</th><th>needs review</th></tr>{groups}</table>"
        )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Drift report</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:2px 8px;border-bottom:1px solid #ddd}}
.bad{{background:#fdd}}figure{{display:inline-block;margin:8px}}</style></head><body>
<h1>Drift report</h1><p>model <code>{html.escape(model_uri)}</code>, data <code>{html.escape(data)}</code>,
{report["rows"]} rows.</p>
<h2>Verdict: {"DRIFT" if overall["drifted"] else "no drift"} (score {overall["score"]:.2f})</h2>
<ul><li>drifted inputs: {", ".join(overall["drifted_features"]) or "none"};
concept drift: {overall["concept_drift"]}</li>
<li>estimated accuracy (CBPE): {overall["estimated_accuracy"]:.3f}; validation accuracy:
{report["validation_accuracy"]}{"" if acc is None else f"; actual accuracy (labels in the file): {acc:.3f}"}</li>
<li>{report["chunks"]["n"]} chunks of {report["chunks"]["rows_per_chunk"]} rows
({"random order" if report["chunks"]["shuffled"] else "file order"}): {report["chunks"]["drifted_share"]:.1%}
flagged; tests that fired: {html.escape(str(report["chunks"]["flagged_tests"]))}</li>
<li>OOD shares: {html.escape(json.dumps({k: round(v, 4) for k, v in report["ood_share"].items()}))}</li></ul>
<h2>Tests on the whole file ({overall["details"]["regime"]} regime)</h2>
<table><tr><th>test</th><th>field</th><th>method</th><th>statistic</th><th>p-value</th><th>threshold</th>
<th>drifted</th></tr>{rows}</table>{groups}<h2>Per-feature plots</h2>{images}</body></html>"""


def run(model_uri: str | None, data: str, out: str, chunk_rows: int = 200, shuffle: bool = False) -> dict[str, Any]:
    import mlflow
    import mlflow.pyfunc

    if is_capture(data):  # judged as served: no scoring, per day and model version too
        inputs, captured = capture_drift.captured_traffic(data)
        model_uri = model_uri or capture_drift.default_model_uri(captured)
        reference = load_reference(mlflow.pyfunc.load_model(model_uri))
        conf, predicted = capture_drift.confidences(captured)
        labels, fingerprint = None, Fingerprint(data, "", len(captured))
        prepared = drift_view(ProductFeatures.prepare(inputs), reference, sent_mask(inputs, "brand"))
        groups = capture_drift.group_verdicts(reference, prepared, captured)
    else:
        if model_uri is None:
            raise SystemExit("--model-uri is needed unless --data is a capture")
        model = mlflow.pyfunc.load_model(model_uri)
        reference = load_reference(model)
        frame, fingerprint = load_products(data)
        labels = frame[LABEL].astype(str).to_numpy() if LABEL in frame.columns else None
        inputs = frame.drop(columns=[LABEL], errors="ignore")
        conf, predicted = model_confidence(model, inputs)
        prepared = drift_view(ProductFeatures.prepare(inputs), reference, sent_mask(inputs, "brand"))
        groups = []
    report, summary = build_summary(reference, prepared, conf, labels, predicted, chunk_rows, shuffle)
    report.update({"model_uri": model_uri, "data": fingerprint.path, "data_sha256": fingerprint.sha256})
    if groups:
        report["groups"] = groups
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "drift_summary.json").write_text(json.dumps(report, indent=2, default=float))
    page = render_html(report, feature_plots(reference, summary, conf), model_uri, fingerprint.path)
    (out_dir / "drift_report.html").write_text(page, encoding="utf-8")
    with mlflow.start_run(run_name="drift-report") as run_:
        mlflow.set_tags({"model_uri": model_uri, "data_sha256": fingerprint.sha256, "kind": "drift_report"})
        mlflow.log_metrics(
            {
                "drift_score": float(report["overall"]["score"]),
                "drift_detected": float(report["overall"]["drifted"]),
                "chunks_drifted_share": float(report["chunks"]["drifted_share"]),
                "estimated_accuracy": float(report["estimated_accuracy"]),
                **({"actual_accuracy": report["actual_accuracy"]} if "actual_accuracy" in report else {}),
            }
        )
        mlflow.log_artifact(str(out_dir / "drift_report.html"), artifact_path="drift_report")
        mlflow.log_artifact(str(out_dir / "drift_summary.json"), artifact_path="drift_report")
        report["run_id"] = run_.info.run_id
    return report


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--model-uri",
        default=None,
        help="e.g. runs:/<id>/model or models:/product-classifier@champion (default for a capture: the newest "
        "captured version)",
    )
    ap.add_argument(
        "--data",
        required=True,
        help="CSV/Parquet of listings (canonical columns or a known source), or a capture folder / s3://bucket/prefix",
    )
    ap.add_argument("--out", default="drift_report", help="folder for drift_report.html and drift_summary.json")
    ap.add_argument("--chunk-rows", type=int, default=200, help="rows per chunk for the per-batch verdicts")
    ap.add_argument(
        "--shuffle-chunks",
        action="store_true",
        help="chunk a random order instead of file order (for files sorted by category)",
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    report = run(args.model_uri, args.data, args.out, args.chunk_rows, args.shuffle_chunks)
    overall = report["overall"]
    print(
        f"drift={overall['drifted']} score={overall['score']:.3f} features={overall['drifted_features']} "
        f"chunks_flagged={report['chunks']['drifted_share']:.1%} run_id={report['run_id']} out={args.out}"
    )
    for g in report.get("groups", []):
        print(
            f"  {g['day']} version {g['model_version']}: {g['rows']} rows from {g['workers']} worker(s), "
            f"drift={g['drifted']} score={g['score']:.3f} features={g['drifted_features']}"
        )


if __name__ == "__main__":
    main()
