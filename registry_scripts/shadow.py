"""`shadow`: replay the traffic production captured through a candidate, beside the champion.

    python -m registry_scripts shadow --candidate 4 --capture s3://bucket/traffic [--out shadow/]

Both models score the SAME captured inputs (every captured row, in capture order, nothing
de-duplicated: replay what production saw), each loaded once and fed 1,000-row chunks. The report
says how often they agree (overall, per champion class, on the rows the champion answered without
review), how sure each is (mean confidence, needs_review share), how often each one's drift monitor
flags the chunks, which model of the fallback chain answered, the largest disagreements with
example titles, and what scoring cost. Markdown and HTML files, logged to an MLflow run of the
``shadow`` experiment with the figures as ``shadow_*`` metrics. ``gate --capture`` reuses it to
require agreement and review-share bounds on real traffic before production.
"""

from __future__ import annotations

import argparse
import html
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pyfunc_model.capture.read import read_capture, request_frame
from registry_scripts._common import (
    CHAMPION,
    CommandError,
    get_client,
    get_version,
    load_uncaptured,
    model_uri_for,
    version_by_alias,
)

#: Rows per ``predict`` call in a replay: large enough for throughput, small enough that each
#: chunk's drift verdict is a calibrated test (up to 1,000 rows) rather than a distance.
CHUNK_ROWS = 1_000
#: Disagreement pairs listed in the report, and example titles per pair.
TOP_PAIRS, EXAMPLES = 10, 3
SHADOW_EXPERIMENT = "shadow"


@dataclass
class Scored:
    """One model's answers to the replayed rows and what they cost."""

    label: str
    output: pd.DataFrame
    seconds: float

    @property
    def ms_per_row(self) -> float:
        return 1000.0 * self.seconds / max(len(self.output), 1)


@dataclass
class ShadowReport:
    """What the candidate would have done to the captured traffic, next to the champion."""

    rows: int
    agreement: float
    accepted_rows: int
    accepted_agreement: float
    per_class: pd.DataFrame  # champion class -> rows, agreement, candidate's most frequent other answer
    models: pd.DataFrame  # one row per model: mean confidence, needs_review / drift shares, model_used shares
    disagreements: pd.DataFrame  # champion, candidate, rows, examples
    timing: dict[str, float] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        """Flat ``shadow_*`` figures for MLflow and the gate."""
        out = {
            "shadow_rows": float(self.rows),
            "shadow_agreement": self.agreement,
            "shadow_accepted_rows": float(self.accepted_rows),
            "shadow_accepted_agreement": self.accepted_agreement,
        }
        for label, row in self.models.iterrows():
            for column, value in row.items():
                out[f"shadow_{label}_{column}"] = float(value)
        out.update({f"shadow_{k}": v for k, v in self.timing.items()})
        return out


def replay_inputs(captured: pd.DataFrame, limit: int | None = None) -> pd.DataFrame:
    """The captured inputs as a request frame (canonical columns present in the capture, nulls as None)."""
    if "title" not in captured.columns:
        raise CommandError("the capture holds no 'title' column: nothing to replay")
    return request_frame(captured if limit is None else captured.head(limit))


def score_all(model: Any, inputs: pd.DataFrame, label: str, chunk_rows: int = CHUNK_ROWS) -> Scored:
    """``model.predict`` over ``inputs`` in chunks; N rows in, N rows out, in order."""
    parts = []
    start = time.perf_counter()
    for lo in range(0, len(inputs), chunk_rows):
        parts.append(model.predict(inputs.iloc[lo : lo + chunk_rows].reset_index(drop=True)))
    seconds = time.perf_counter() - start
    output = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if len(output) != len(inputs):
        raise CommandError(f"{label} answered {len(output)} rows for {len(inputs)} sent")
    return Scored(label, output, seconds)


def model_shares(output: pd.DataFrame) -> dict[str, float]:
    """Mean confidence, needs_review and drift shares, and which model of the chain answered, of one output."""
    out = {"mean_confidence": float(pd.to_numeric(output["confidence"], errors="coerce").mean())}
    for column in ("needs_review", "drift_detected"):
        if column in output.columns:
            out[f"{column}_share"] = float(output[column].fillna(False).astype(bool).mean())
    if "model_used" in output.columns:
        for name, share in output["model_used"].astype(str).value_counts(normalize=True).items():
            out[f"answered_by_{name}"] = float(share)
    return out


def compare(champion: pd.DataFrame, candidate: pd.DataFrame, inputs: pd.DataFrame) -> ShadowReport:
    """Agreement, per-class agreement, shares and disagreement pairs of two models' answers to ``inputs``."""
    if not len(champion) == len(candidate) == len(inputs):
        raise ValueError(f"row counts differ: champion {len(champion)}, candidate {len(candidate)}, {len(inputs)}")
    a = champion["category"].astype(str).reset_index(drop=True)
    b = candidate["category"].astype(str).reset_index(drop=True)
    same = a == b
    accepted = ~champion["needs_review"].fillna(True).astype(bool).reset_index(drop=True)
    frame = pd.DataFrame({"champion": a, "candidate": b, "same": same, "title": inputs["title"].astype(str)})
    per_class = (
        frame.groupby("champion", sort=False)
        .agg(rows=("same", "size"), agreement=("same", "mean"))
        .sort_values(["rows", "agreement"], ascending=[False, True])
    )
    pairs = frame[~same].groupby(["champion", "candidate"], sort=False)
    disagreements = (
        pairs.agg(rows=("title", "size"), examples=("title", lambda t: list(t.head(EXAMPLES))))
        .sort_values("rows", ascending=False)
        .head(TOP_PAIRS)
        .reset_index()
    )
    models = pd.DataFrame({"champion": model_shares(champion), "candidate": model_shares(candidate)}).T.fillna(0.0)
    return ShadowReport(
        rows=len(frame),
        agreement=float(same.mean()) if len(frame) else float("nan"),
        accepted_rows=int(accepted.sum()),
        accepted_agreement=float(same[accepted].mean()) if accepted.any() else float("nan"),
        per_class=per_class,
        models=models,
        disagreements=disagreements,
    )


def replay(champion_model: Any, candidate_model: Any, inputs: pd.DataFrame) -> ShadowReport:
    """Score ``inputs`` with both models and compare; the timing says what each cost."""
    start = time.perf_counter()
    champion = score_all(champion_model, inputs, "champion")
    candidate = score_all(candidate_model, inputs, "candidate")
    report = compare(champion.output, candidate.output, inputs)
    report.timing = {
        "champion_ms_per_row": champion.ms_per_row,
        "candidate_ms_per_row": candidate.ms_per_row,
        "scoring_seconds": champion.seconds + candidate.seconds,
        "replay_seconds": time.perf_counter() - start,
    }
    return report


# ---------------------------------------------------------------- rendering
def _pct(x: float) -> str:
    return "-" if pd.isna(x) else f"{100 * x:.1f} %"


def _sections(report: ShadowReport) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, headers, rows) of every table, shared by both renderings."""
    summary = [
        ["rows replayed", str(report.rows)],
        ["agreement", _pct(report.agreement)],
        ["rows the champion accepted without review", str(report.accepted_rows)],
        ["agreement on those", _pct(report.accepted_agreement)],
        *[[k.replace("_", " "), f"{v:.3f}"] for k, v in report.timing.items()],
    ]
    model_cols = list(report.models.columns)
    models = [
        [label, *[_pct(v) if c != "mean_confidence" else f"{v:.3f}" for c, v in row.items()]]
        for label, row in report.models.iterrows()
    ]
    classes = [[str(c), str(int(r.rows)), _pct(r.agreement)] for c, r in report.per_class.iterrows()]
    pairs = [
        [r.champion, r.candidate, str(int(r.rows)), " | ".join(str(t)[:80] for t in r.examples)]
        for r in report.disagreements.itertuples()
    ]
    return [
        ("Summary", ["figure", "value"], summary),
        ("Per model", ["model", *[c.replace("_", " ") for c in model_cols]], models),
        ("Agreement per champion class", ["champion class", "rows", "agreement"], classes),
        ("Largest disagreements", ["champion", "candidate", "rows", "example titles"], pairs),
    ]


def render_markdown(report: ShadowReport, heading: str) -> str:
    lines = [f"# {heading}", ""]
    for title, headers, rows in _sections(report):
        lines += [f"## {title}", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
        lines.append("")
    return "\n".join(lines)


def render_html(report: ShadowReport, heading: str) -> str:
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(heading)}</title>",
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}</style></head><body>",
        f"<h1>{html.escape(heading)}</h1>",
    ]
    for title, headers, rows in _sections(report):
        parts.append(f"<h2>{html.escape(title)}</h2><table><tr>")
        parts += [f"<th>{html.escape(h)}</th>" for h in headers]
        parts.append("</tr>")
        for row in rows:
            parts.append("<tr>" + "".join(f"<td>{html.escape(cell)}</td>" for cell in row) + "</tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    return "".join(parts)


# ---------------------------------------------------------------- command
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--candidate", required=True, type=int, help="version number to replay")
    parser.add_argument("--capture", required=True, help="capture folder or s3://bucket/prefix")
    parser.add_argument(
        "--champion-alias", default=CHAMPION, help="alias of the model to compare with (default: %(default)s)"
    )
    parser.add_argument("--out", default=None, help="folder for shadow.md and shadow.html (default: a temporary one)")
    parser.add_argument("--limit", type=int, default=None, help="replay only the first ROWS captured rows")


def load_capture_inputs(capture: str, limit: int | None = None) -> pd.DataFrame:
    try:
        captured = read_capture(capture)
    except FileNotFoundError as exc:
        raise CommandError(str(exc)) from exc
    inputs = replay_inputs(captured, limit)
    if inputs.empty:
        raise CommandError(f"no captured rows to replay in {capture}")
    return inputs


def load_pair(name: str, candidate: str, champion: str) -> tuple[Any, Any]:
    """Both models, loaded with capture off (a replay must not be captured as traffic)."""
    models = []
    for version in (champion, candidate):
        uri = model_uri_for(name, version)
        try:
            models.append(load_uncaptured(uri))
        except Exception as exc:
            raise CommandError(f"cannot load {uri}: {str(exc).strip().splitlines()[0][:300]}") from exc
    return models[0], models[1]


def run(args: argparse.Namespace) -> int:
    import mlflow

    name = args.registered_model_name
    client = get_client()
    cand_mv = get_version(client, name, args.candidate)
    champ_mv = version_by_alias(client, name, args.champion_alias)
    if champ_mv is None:
        raise CommandError(f"no version of {name} has the alias @{args.champion_alias}: nothing to compare with")
    inputs = load_capture_inputs(args.capture, args.limit)
    champion, candidate = load_pair(name, str(cand_mv.version), str(champ_mv.version))
    report = replay(champion, candidate, inputs)
    heading = f"Shadow replay: {name} v{cand_mv.version} beside v{champ_mv.version} (@{args.champion_alias})"
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="shadow-"))
    out.mkdir(parents=True, exist_ok=True)
    markdown = render_markdown(report, heading)
    (out / "shadow.md").write_text(markdown, encoding="utf-8")
    (out / "shadow.html").write_text(render_html(report, heading), encoding="utf-8")
    mlflow.set_experiment(SHADOW_EXPERIMENT)
    with mlflow.start_run(run_name=f"shadow-v{cand_mv.version}-vs-v{champ_mv.version}") as active:
        mlflow.log_params(
            {
                "registered_model_name": name,
                "candidate_version": cand_mv.version,
                "champion_version": champ_mv.version,
                "capture": args.capture[:500],
                "rows": report.rows,
            }
        )
        mlflow.log_metrics(report.metrics())
        mlflow.log_artifact(str(out / "shadow.md"))
        mlflow.log_artifact(str(out / "shadow.html"))
    print(markdown)
    print(f"report: {out / 'shadow.md'}, {out / 'shadow.html'}; MLflow run {active.info.run_id}")
    return 0
