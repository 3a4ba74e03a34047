"""Fast checks of the registry commands' pure parts (no server, no training): gate rules, tables, CLI."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.models import ModelSignature
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

from registry_scripts import gate, rollback
from registry_scripts.__main__ import build_parser, main
from registry_scripts._common import TAG_PROMOTED_AT, TAG_ROLLED_BACK_AT, table


def _signature(inputs: list[ColSpec], outputs: list[str], params: list[str] = ()) -> ModelSignature:
    return ModelSignature(
        inputs=Schema(inputs),
        outputs=Schema([ColSpec("string", o) for o in outputs]),
        params=ParamSchema([ParamSpec(p, "string", "x") for p in params]) if params else None,
    )


CHAMPION = _signature(
    [ColSpec("string", "title"), ColSpec("string", "brand", required=False)], ["category", "confidence"], ["on_drift"]
)


def test_same_signature_is_compatible() -> None:
    assert gate.signature_problems(CHAMPION, CHAMPION) == []


def test_new_optional_input_is_compatible_but_new_required_input_is_not() -> None:
    optional = _signature(
        [*CHAMPION.inputs.inputs, ColSpec("string", "sku", required=False)], ["category", "confidence"], ["on_drift"]
    )
    required = _signature([*CHAMPION.inputs.inputs, ColSpec("string", "sku")], ["category", "confidence"], ["on_drift"])
    assert gate.signature_problems(optional, CHAMPION) == []
    assert gate.signature_problems(required, CHAMPION) == [
        "input 'sku' is required by the candidate but optional/absent for the champion"
    ]


def test_dropped_output_param_or_changed_type_is_incompatible() -> None:
    candidate = _signature([ColSpec("long", "title"), ColSpec("string", "brand", required=False)], ["category"])
    problems = gate.signature_problems(candidate, CHAMPION)
    assert any("type long" in p for p in problems)
    assert "output 'confidence' missing" in problems and "param 'on_drift' missing" in problems
    assert gate.signature_problems(None, CHAMPION) == ["candidate has no signature"]


def test_artifact_check_needs_drift_reference_and_fallbacks(tmp_path: Path) -> None:
    class Echo(mlflow.pyfunc.PythonModel):
        def predict(self, context: object, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
            return model_input

    (tmp_path / "drift_reference.json").write_text(json.dumps({"rows": 1}))
    (tmp_path / "fallbacks.pkl").write_bytes(pickle.dumps({}))
    complete, bare = tmp_path / "complete", tmp_path / "bare"
    mlflow.pyfunc.save_model(
        complete,
        python_model=Echo(),
        artifacts={
            "drift_reference": str(tmp_path / "drift_reference.json"),
            "fallbacks": str(tmp_path / "fallbacks.pkl"),
        },
    )
    mlflow.pyfunc.save_model(bare, python_model=Echo())
    assert all(c.passed for c in gate.check_artifacts(complete))
    failed = [c for c in gate.check_artifacts(bare) if not c.passed]
    assert [c.name for c in failed] == ["artifact: drift_reference", "artifact: fallbacks"]


def test_threshold_check_uses_mlflow_validation() -> None:
    assert gate._threshold_check("macro_f1", 0.95, 0.94, greater_is_better=True)
    assert not gate._threshold_check("macro_f1", 0.93, 0.94, greater_is_better=True)
    assert gate._threshold_check("latency_ratio", 1.2, 1.5, greater_is_better=False)
    assert not gate._threshold_check("latency_ratio", 1.6, 1.5, greater_is_better=False)


def test_rolled_back_version_is_not_a_rollback_target() -> None:
    class V:
        def __init__(self, tags: dict[str, str]) -> None:
            self.tags = tags

    assert rollback._was_champion(V({TAG_PROMOTED_AT: "2026-01-02T00:00:00Z"}))
    assert not rollback._was_champion(V({}))
    assert not rollback._was_champion(
        V({TAG_PROMOTED_AT: "2026-01-02T00:00:00Z", TAG_ROLLED_BACK_AT: "2026-01-03T00:00:00Z"})
    )
    assert rollback._was_champion(
        V({TAG_PROMOTED_AT: "2026-01-04T00:00:00Z", TAG_ROLLED_BACK_AT: "2026-01-03T00:00:00Z"})
    )


def test_table_aligns_columns() -> None:
    text = table(("a", "long header"), [(1, "x"), ("wide value", None)])
    lines = text.splitlines()
    assert lines[0].index("long header") == lines[2].index("x") == lines[3].index("wide value") + 12
    assert set(lines[1].replace(" ", "")) == {"-"}


def test_cli_parses_every_command_with_default_model_name() -> None:
    parser = build_parser()
    assert parser.parse_args(["list"]).registered_model_name == "product-classifier"
    args = parser.parse_args(["promote", "--latest", "--to", "production", "--dry-run"])
    assert args.latest and args.to == "production" and args.dry_run and not args.force
    assert parser.parse_args(["gate", "--candidate", "3"]).max_latency_ratio == 1.5
    with pytest.raises(SystemExit):
        parser.parse_args(["promote", "--version", "1", "--latest", "--to", "staging"])


def test_unreachable_tracking_server_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.stack.servers import free_port

    uri = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    import mlflow

    mlflow.set_tracking_uri(uri)  # a session fixture may have set another URI process-wide
    assert main(["list"]) == 2
    assert f"cannot reach the MLflow tracking server at {uri}" in capsys.readouterr().err
