"""`gate`: decide whether a candidate version may replace the champion, and show why.

Both models are scored on the SAME held-out rows (the candidate run's own title-grouped test split,
so no row it trained on is used). The metric and latency checks go through
``mlflow.validate_evaluation_results`` with ``MetricThreshold``s derived from the champion's scores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registry_scripts._common import (
    CHAMPION,
    CommandError,
    explain_mlflow_error,
    format_number,
    get_client,
    get_version,
    load_uncaptured,
    model_uri_for,
    table,
    version_by_alias,
)

REQUIRED_ARTIFACTS = {"drift_reference": "drift_reference.json", "fallbacks": "fallbacks.pkl"}
F1_METRICS = ("macro_f1", "macro_f1_title_only")
DEFAULT_MAX_F1_DROP = 0.01
DEFAULT_MAX_LATENCY_RATIO = 1.5
DEFAULT_MIN_AGREEMENT = 0.9
DEFAULT_MAX_REVIEW_INCREASE = 0.05
EXIT_REFUSED = 1


@dataclass
class Check:
    """One row of the gate table."""

    name: str
    candidate: str
    champion: str
    limit: str
    passed: bool
    note: str = ""


@dataclass
class GateResult:
    candidate: str
    champion: str | None
    data: str
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    def render(self) -> str:
        champ = f"champion v{self.champion}" if self.champion else "champion (none)"
        rows = [(c.name, c.candidate, c.champion, c.limit, "ok" if c.passed else "FAIL", c.note) for c in self.checks]
        return table(("check", f"candidate v{self.candidate}", champ, "limit", "result", "why"), rows)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--candidate", required=True, type=int, help="version number to evaluate")
    add_gate_options(parser)


def add_gate_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        default=None,
        help="CSV/Parquet with labels (or 'synthetic'); default: the data the candidate was trained on",
    )
    parser.add_argument(
        "--max-f1-drop",
        type=float,
        default=DEFAULT_MAX_F1_DROP,
        help="largest allowed macro-F1 drop vs the champion, all fields and title-only (default: %(default)s)",
    )
    parser.add_argument(
        "--max-latency-ratio",
        type=float,
        default=DEFAULT_MAX_LATENCY_RATIO,
        help="largest allowed candidate/champion single-row latency ratio (default: %(default)s)",
    )
    parser.add_argument(
        "--capture",
        default=None,
        help="also replay this capture (folder or s3://...) through both models and bound agreement and review share",
    )
    parser.add_argument(
        "--min-agreement",
        type=float,
        default=DEFAULT_MIN_AGREEMENT,
        help="with --capture: smallest share of captured rows answered alike (default: %(default)s)",
    )
    parser.add_argument(
        "--max-review-increase",
        type=float,
        default=DEFAULT_MAX_REVIEW_INCREASE,
        help="with --capture: largest rise of the needs_review share over the champion's (default: %(default)s)",
    )


# ---------------------------------------------------------------- artifact and signature checks
def check_artifacts(model_dir: Path) -> list[Check]:
    """The drift reference and fallbacks must be declared in MLmodel and present (non-empty) on disk."""
    from mlflow.models import Model

    declared = Model.load(str(model_dir)).flavors.get("python_function", {}).get("artifacts", {}) or {}
    checks = []
    for key, filename in REQUIRED_ARTIFACTS.items():
        entry = declared.get(key)
        path = model_dir / entry["path"] if isinstance(entry, dict) and "path" in entry else None
        if path is None:
            found = list(model_dir.rglob(filename))
            path = found[0] if found else None
        ok = path is not None and path.is_file() and path.stat().st_size > 0
        note = "" if ok else f"{filename} missing from the model's artifacts"
        if ok and filename.endswith(".json"):
            try:
                json.loads(path.read_text())
            except ValueError as exc:
                ok, note = False, f"{filename} is not valid JSON: {exc}"
        checks.append(Check(f"artifact: {key}", "present" if ok else "MISSING", "", "required", ok, note))
    return checks


def _type_name(dtype: Any) -> str:
    """'long' for DataType.long, the repr for Any/Map/Array types."""
    return str(getattr(dtype, "name", None) or repr(dtype))


def signature_problems(candidate: Any, champion: Any | None) -> list[str]:
    """Ways the candidate's signature would break callers of the champion (empty = compatible)."""
    if candidate is None:
        return ["candidate has no signature"]
    if champion is None:
        return []
    problems = []
    cand_in = {c.name: c for c in candidate.inputs.inputs} if candidate.inputs else {}
    champ_in = {c.name: c for c in champion.inputs.inputs} if champion.inputs else {}
    for col_name, spec in cand_in.items():
        if spec.required and (col_name not in champ_in or not champ_in[col_name].required):
            problems.append(f"input {col_name!r} is required by the candidate but optional/absent for the champion")
        if col_name in champ_in and _type_name(spec.type) != _type_name(champ_in[col_name].type):
            problems.append(
                f"input {col_name!r} type {_type_name(spec.type)} != champion's {_type_name(champ_in[col_name].type)}"
            )
    cand_out = {c.name for c in candidate.outputs.inputs} if candidate.outputs else set()
    champ_out = {c.name for c in champion.outputs.inputs} if champion.outputs else set()
    problems += [f"output {c!r} missing" for c in sorted(champ_out - cand_out)]
    cand_params = {p.name for p in candidate.params.params} if candidate.params else set()
    champ_params = {p.name for p in champion.params.params} if champion.params else set()
    problems += [f"param {p!r} missing" for p in sorted(champ_params - cand_params)]
    return problems


# ---------------------------------------------------------------- held-out data and scoring
def held_out_data(data: str | None, run_params: dict[str, str]) -> tuple[Any, str]:
    """The test split of ``data`` (default: the candidate's training data), split as the trainer split it."""
    from training.data import load_products, title_group_split

    source = data or run_params.get("data_path")
    if not source:
        raise CommandError("no --data given and the candidate's run did not log a data_path param")
    test_size = float(run_params.get("test_size", 0.2))
    seed = int(run_params.get("seed", 42))
    if source == "synthetic" or source.startswith("synthetic:"):
        from training.synthetic import generate_synthetic_products

        rows = int(source.partition(":")[2] or run_params.get("data_rows") or 3000)
        frame = generate_synthetic_products(rows, seed=0)
    else:
        try:
            frame, _ = load_products(source)
        except (FileNotFoundError, ValueError) as exc:
            raise CommandError(f"cannot load gate data {source}: {exc}") from exc
    _, test = title_group_split(frame, test_size, seed)
    return test, f"{source} (held-out {len(test)} rows, test_size={test_size}, seed={seed})"


def _macro_f1(model: Any, frame: Any, labels: Any) -> float:
    from sklearn.metrics import f1_score

    predictions = model.predict(frame)
    return float(f1_score(labels, predictions["category"].astype(str), average="macro", zero_division=0))


def score(model: Any, test: Any) -> dict[str, float]:
    """Macro-F1 with all fields and title-only (subcategory/brand/seller absent)."""
    from features.schema import INPUT_COLUMNS, LABEL
    from training.data import title_only

    labels = test[LABEL].astype(str)
    inputs = test[list(INPUT_COLUMNS)]
    title_inputs = title_only(test)[list(INPUT_COLUMNS)].dropna(axis=1, how="all")
    return {"macro_f1": _macro_f1(model, inputs, labels), "macro_f1_title_only": _macro_f1(model, title_inputs, labels)}


def single_row_latency(models: list[Any], row: Any, repeats: int = 25) -> list[float]:
    """Median single-row predict time (seconds) per model, calls interleaved so load noise hits both."""
    for model in models:
        for _ in range(3):
            model.predict(row)
    timings: list[list[float]] = [[] for _ in models]
    for _ in range(repeats):
        for i, model in enumerate(models):
            start = time.perf_counter()
            model.predict(row)
            timings[i].append(time.perf_counter() - start)
    return [statistics.median(t) for t in timings]


def _signature(model_dir: Path) -> Any:
    from mlflow.models import Model

    return Model.load(str(model_dir)).signature


def _brief(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[-1] if text else ''}"[:300]


def _threshold_check(name: str, value: float, limit: float, greater_is_better: bool) -> bool:
    """One metric through mlflow.validate_evaluation_results (raises ModelValidationFailedException on failure)."""
    import mlflow
    from mlflow.models import EvaluationResult, MetricThreshold
    from mlflow.models.evaluation.validation import ModelValidationFailedException

    thresholds = {name: MetricThreshold(threshold=float(limit), greater_is_better=greater_is_better)}
    try:
        mlflow.validate_evaluation_results(thresholds, EvaluationResult(metrics={name: value}, artifacts={}))
    except ModelValidationFailedException:
        return False
    return True


# ---------------------------------------------------------------- the gate
def _download(name: str, version: str, dst: Path) -> Path:
    import mlflow

    uri = model_uri_for(name, version)
    try:
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(dst)))
    except Exception as exc:
        raise CommandError(f"cannot download {uri}: {str(exc).strip().splitlines()[0][:300]}") from exc


def evaluate_gate(
    client: Any,
    name: str,
    candidate: int,
    data: str | None = None,
    max_f1_drop: float = DEFAULT_MAX_F1_DROP,
    max_latency_ratio: float = DEFAULT_MAX_LATENCY_RATIO,
    capture: str | None = None,
    min_agreement: float = DEFAULT_MIN_AGREEMENT,
    max_review_increase: float = DEFAULT_MAX_REVIEW_INCREASE,
) -> GateResult:
    """Run every check; never raises for a failed check (those become FAIL rows).

    ``capture``: captured traffic replayed through both models (``registry_scripts.shadow``);
    adds an agreement check and a needs_review share check."""

    cand_mv = get_version(client, name, candidate)
    champ_mv = version_by_alias(client, name, CHAMPION)
    if champ_mv is not None and str(champ_mv.version) == str(cand_mv.version):
        champ_mv = None  # comparing a model with itself says nothing
    try:
        run_params = client.get_run(cand_mv.run_id).data.params if cand_mv.run_id else {}
    except Exception as exc:
        raise explain_mlflow_error(exc, "read the training run of", name) from exc
    test, data_desc = held_out_data(data, run_params)
    result = GateResult(str(cand_mv.version), str(champ_mv.version) if champ_mv else None, data_desc)
    if champ_mv is not None and champ_mv.run_id and not data:
        champ_params = client.get_run(champ_mv.run_id).data.params
        keys = ("data_path", "data_sha256", "test_size", "seed")
        if any(champ_params.get(k) != run_params.get(k) for k in keys):
            result.notes.append(
                f"the champion v{champ_mv.version} was trained on other data or another split, so some "
                "of these rows may be in its training set (its scores may be optimistic)"
            )

    with tempfile.TemporaryDirectory(prefix="gate-") as tmp:
        cand_dir = _download(name, cand_mv.version, Path(tmp) / "candidate")
        champ_dir = _download(name, champ_mv.version, Path(tmp) / "champion") if champ_mv else None
        result.checks += check_artifacts(cand_dir)
        problems = signature_problems(_signature(cand_dir), _signature(champ_dir) if champ_dir else None)
        result.checks.append(
            Check(
                "signature compatible",
                "ok" if not problems else "INCOMPATIBLE",
                "" if champ_dir else "-",
                "champion's callers keep working",
                not problems,
                "; ".join(problems),
            )
        )

        try:
            cand_model = load_uncaptured(str(cand_dir))
            cand_scores = score(cand_model, test)
        except Exception as exc:  # a candidate that cannot load or predict is refused, not a crash
            result.checks.append(Check("candidate loads and predicts", "ERROR", "", "must work", False, _brief(exc)))
            return result
        champ_model, champ_scores = None, {}
        if champ_dir is not None:
            try:
                champ_model = load_uncaptured(str(champ_dir))
                champ_scores = score(champ_model, test)
            except Exception as exc:
                result.checks.append(
                    Check(
                        "champion loads and predicts",
                        "",
                        "ERROR",
                        "needed to compare",
                        False,
                        f"cannot compare: {_brief(exc)} (use promote --force if intended)",
                    )
                )
                return result
        for metric in F1_METRICS:
            if not champ_scores:
                result.checks.append(
                    Check(metric, format_number(cand_scores[metric]), "-", "-", True, "no champion to compare with")
                )
                continue
            floor = champ_scores[metric] - max_f1_drop
            ok = _threshold_check(metric, cand_scores[metric], floor, greater_is_better=True)
            drop = champ_scores[metric] - cand_scores[metric]
            result.checks.append(
                Check(
                    metric,
                    format_number(cand_scores[metric]),
                    format_number(champ_scores[metric]),
                    f">= {floor:.4f}",
                    ok,
                    "" if ok else f"drops {drop:.4f} > {max_f1_drop}",
                )
            )

        if champ_model is not None:
            from features.schema import INPUT_COLUMNS

            row = test[list(INPUT_COLUMNS)].head(1)
            cand_s, champ_s = single_row_latency([cand_model, champ_model], row)
            ratio = cand_s / champ_s if champ_s > 0 else float("inf")
            ok = _threshold_check("latency_ratio", ratio, max_latency_ratio, greater_is_better=False)
            result.checks.append(
                Check(
                    "single-row latency",
                    f"{cand_s * 1000:.2f} ms",
                    f"{champ_s * 1000:.2f} ms",
                    f"ratio <= {max_latency_ratio}",
                    ok,
                    f"ratio {ratio:.2f}",
                )
            )
        if capture:
            result.checks += capture_checks(cand_model, champ_model, capture, min_agreement, max_review_increase)
    return result


def capture_checks(
    cand_model: Any, champ_model: Any | None, capture: str, min_agreement: float, max_review_increase: float
) -> list[Check]:
    """Agreement and needs_review share of both models on captured production traffic."""
    from registry_scripts import shadow

    inputs = shadow.load_capture_inputs(capture)
    if champ_model is None:
        scored = shadow.score_all(cand_model, inputs, "candidate")
        review = shadow.model_shares(scored.output)["needs_review_share"]
        note = f"no champion to compare with; needs_review {review:.1%}"
        return [Check("shadow: captured rows", f"{len(inputs)} rows", "-", "-", True, note)]
    report = shadow.replay(champ_model, cand_model, inputs)
    agreement_ok = _threshold_check("shadow_agreement", report.agreement, min_agreement, greater_is_better=True)
    review = report.models["needs_review_share"]
    ceiling = float(review["champion"]) + max_review_increase
    review_ok = _threshold_check("shadow_review_share", float(review["candidate"]), ceiling, greater_is_better=False)
    return [
        Check(
            "shadow: agreement on captured rows",
            f"{report.agreement:.1%}",
            "-",
            f">= {min_agreement:.1%}",
            agreement_ok,
            f"{report.rows} rows; on rows the champion accepted: {report.accepted_agreement:.1%}",
        ),
        Check(
            "shadow: needs_review share",
            f"{float(review['candidate']):.1%}",
            f"{float(review['champion']):.1%}",
            f"<= {ceiling:.1%}",
            review_ok,
        ),
    ]


def evaluate_from_args(client: Any, name: str, candidate: int, args: argparse.Namespace) -> GateResult:
    """:func:`evaluate_gate` with the options of :func:`add_gate_options` (gate and promote share them)."""
    return evaluate_gate(
        client,
        name,
        candidate,
        args.data,
        args.max_f1_drop,
        args.max_latency_ratio,
        args.capture,
        args.min_agreement,
        args.max_review_increase,
    )


def print_result(result: GateResult, name: str) -> None:
    print(f"gate for {name} v{result.candidate} on {result.data}")
    print(result.render())
    for note in result.notes:
        print(f"note: {note}")
    if result.passed:
        print(f"GATE PASSED: v{result.candidate} may be promoted to production.")
    else:
        failed = ", ".join(c.name for c in result.checks if not c.passed)
        print(f"GATE REFUSED: v{result.candidate} fails {failed}.")


def record_result(client: Any, name: str, result: GateResult, args: argparse.Namespace, via: str = "gate") -> None:
    """The gate's figures on the candidate (version tags) and in the registry's audit history."""
    from registry_scripts import audit

    checks = [[c.name, c.candidate, c.champion, c.limit, c.passed] for c in result.checks]
    summary = {
        "passed": result.passed,
        "champion": result.champion,
        "data": result.data[:300],
        "max_f1_drop": args.max_f1_drop,
        "max_latency_ratio": args.max_latency_ratio,
        "capture": getattr(args, "capture", None),
        "failed": [c.name for c in result.checks if not c.passed],
        "checks": checks,
    }
    event = audit.record(client, name, "gate", result.candidate, via=via, gate=summary)
    audit.tag_version(
        client,
        name,
        result.candidate,
        {
            "gate.result": "passed" if result.passed else "refused",
            "gate.at": event["at"],
            "gate.by": event["by"],
            "gate.against": result.champion or "none",
            "gate.checks": json.dumps(checks, separators=(",", ":")),
        },
    )


def run(args: argparse.Namespace) -> int:
    client = get_client()
    result = evaluate_from_args(client, args.registered_model_name, args.candidate, args)
    print_result(result, args.registered_model_name)
    record_result(client, args.registered_model_name, result, args)
    return 0 if result.passed else EXIT_REFUSED
