"""`register`: turn a training run's logged model into a tagged version of the registered model.

The model's MLmodel file is read from the artifact store BEFORE the version is created, so an
unreachable store fails the command with nothing registered; anything that fails after creation
deletes the new version again (no half-registered versions).
"""

from __future__ import annotations

import argparse
import getpass
import re
import subprocess
import tempfile
from dataclasses import dataclass
from typing import Any

from registry_scripts._common import (
    CommandError,
    all_versions,
    explain_mlflow_error,
    get_client,
    now_iso,
    tracking_uri,
)

LOGGED_MODEL_NAME = "model"
_MODEL_ID_URI = re.compile(r"^models:/(m-[0-9a-f]+)/?$")


@dataclass(frozen=True)
class Source:
    """What to register: the URI stored on the version, plus where its files are."""

    uri: str
    artifact_location: str
    run_id: str | None
    model_id: str | None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--run-id", help="training run whose logged model 'model' to register")
    group.add_argument("--model-uri", help="models:/m-<id>, runs:/<run>/model, or any model directory URI")
    parser.add_argument(
        "--model-name-in-run",
        default=LOGGED_MODEL_NAME,
        help="name the model was logged under in the run (default: %(default)s)",
    )


def _logged_model_of_run(client: Any, run_id: str, model_name: str) -> Any:
    """The run's logged model called ``model_name`` (the last one logged if there are several)."""
    try:
        run = client.get_run(run_id)
    except Exception as exc:
        raise CommandError(f"run {run_id} not found on {tracking_uri()}: {str(exc).splitlines()[0]}") from exc
    outputs = run.outputs.model_outputs if run.outputs else []
    steps = {o.model_id: o.step for o in outputs}
    candidates = []
    for model_id in steps:
        logged = client.get_logged_model(model_id)
        if logged.name == model_name:
            candidates.append(logged)
    if not candidates:
        found = client.search_logged_models(
            experiment_ids=[run.info.experiment_id],
            filter_string=f"source_run_id = '{run_id}' AND name = '{model_name}'",
        )
        candidates = list(found)
    if not candidates:
        raise CommandError(f"run {run_id} has no logged model named {model_name!r} (log it with log_model(name=...))")
    return max(candidates, key=lambda m: (steps.get(m.model_id, 0), m.creation_timestamp or 0))


def resolve_source(client: Any, run_id: str | None, model_uri: str | None, model_name: str) -> Source:
    if run_id:
        logged = _logged_model_of_run(client, run_id, model_name)
        return Source(f"models:/{logged.model_id}", logged.artifact_location, run_id, logged.model_id)
    assert model_uri is not None
    match = _MODEL_ID_URI.match(model_uri)
    if match:
        try:
            logged = client.get_logged_model(match.group(1))
        except Exception as exc:
            raise CommandError(f"logged model {model_uri} not found on {tracking_uri()}") from exc
        return Source(model_uri, logged.artifact_location, logged.source_run_id, logged.model_id)
    if model_uri.startswith("runs:/"):
        run_part, _, path = model_uri[len("runs:/") :].partition("/")
        logged = _logged_model_of_run(client, run_part, path.strip("/") or model_name)
        return Source(f"models:/{logged.model_id}", logged.artifact_location, run_part, logged.model_id)
    if model_uri.startswith("models:/"):
        raise CommandError(
            f"{model_uri} is already a registry URI; "
            "register a run's model instead (models:/m-<id> or runs:/<run>/model)"
        )
    return Source(model_uri, model_uri, None, None)


def check_artifacts_readable(source: Source) -> None:
    """Download the MLmodel file: proves the artifact store answers and the directory is a model."""
    import mlflow
    from mlflow.models import Model

    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = mlflow.artifacts.download_artifacts(
                artifact_uri=f"{source.artifact_location.rstrip('/')}/MLmodel", dst_path=tmp
            )
            Model.load(path)
        except Exception as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CommandError(
                f"cannot read the model files at {source.artifact_location} (is the artifact store reachable?): "
                f"{first[:400]}. Nothing was registered."
            ) from exc


def _git_commit(run: Any | None) -> tuple[str, str]:
    """The commit the run was trained from (MLflow's run tag), else this checkout's HEAD."""
    if run is not None:
        commit = run.data.tags.get("mlflow.source.git.commit")
        if commit:
            return commit, "run"
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "unknown", "unknown"
    if out.returncode == 0 and out.stdout.strip():
        return out.stdout.strip(), "registering-checkout"
    return "unknown", "unknown"


def version_tags(client: Any, source: Source) -> dict[str, str]:
    """Training metrics, data fingerprint and git commit of the source run, as version tags."""
    run = client.get_run(source.run_id) if source.run_id else None
    tags: dict[str, str] = {"registered_at": now_iso(), "registered_by": getpass.getuser()}
    if run is not None:
        tags["source_run_id"] = run.info.run_id
        tags.update({f"metric.{k}": f"{v:.6g}" for k, v in sorted(run.data.metrics.items())})
        params = run.data.params
        for key in ("data_path", "data_sha256", "data_rows"):
            if key in params:
                tags[f"data.{key.removeprefix('data_')}"] = params[key]
    if source.model_id:
        tags["model_id"] = source.model_id
    tags["git.commit"], tags["git.commit_source"] = _git_commit(run)
    return tags


def _cleanup(client: Any, name: str, before: set[str], source_uri: str) -> list[str]:
    """Delete versions of ``source_uri`` created by this attempt (best effort)."""
    removed = []
    try:
        for version in all_versions(client, name):
            if version.version not in before and str(version.version) not in before and version.source == source_uri:
                client.delete_model_version(name, version.version)
                removed.append(str(version.version))
    except Exception:  # cleanup must not mask the original error
        pass
    return removed


def run(args: argparse.Namespace) -> int:
    name = args.registered_model_name
    client = get_client()
    source = resolve_source(client, args.run_id, args.model_uri, args.model_name_in_run)
    print(f"model: {source.uri} (run {source.run_id or '-'}), files at {source.artifact_location}")
    check_artifacts_readable(source)
    tags = version_tags(client, source)

    existing = [v for v in all_versions(client, name) if v.source == source.uri] if _model_exists(client, name) else []
    if existing:
        version = existing[-1]
        try:
            for key, value in tags.items():
                if key not in version.tags and key not in ("registered_at", "registered_by"):
                    client.set_model_version_tag(name, version.version, key, value)
        except Exception as exc:
            raise explain_mlflow_error(exc, "tag", name) from exc
        print(
            f"{source.uri} is already registered as {name} version {version.version}; nothing new created "
            "(missing tags filled in)."
        )
        return 0

    try:
        if not _model_exists(client, name):
            client.create_registered_model(name, description="Marketplace product classifier (pyfunc).")
            print(f"created registered model {name!r}")
    except Exception as exc:
        raise explain_mlflow_error(exc, "create", name) from exc

    before = {str(v.version) for v in all_versions(client, name)}
    try:
        version = client.create_model_version(
            name,
            source.uri,
            run_id=source.run_id,
            tags=tags,
            model_id=source.model_id,
            description=f"registered from run {source.run_id}" if source.run_id else None,
        )
        if version.status != "READY":
            raise CommandError(f"version {version.version} ended in status {version.status}: {version.status_message}")
    except Exception as exc:
        removed = _cleanup(client, name, before, source.uri)
        note = f" Removed the half-created version(s) {', '.join(removed)}." if removed else " Nothing was registered."
        err = exc if isinstance(exc, CommandError) else explain_mlflow_error(exc, "register a version of", name)
        raise CommandError(f"{err}{note}", err.exit_code) from exc

    print(f"registered {name} version {version.version} from {source.uri}")
    for key in sorted(tags):
        print(f"  tag {key} = {tags[key]}")
    print(
        f"load it with models:/{name}/{version.version}; promote with: "
        f"python -m registry_scripts promote --version {version.version} --to staging"
    )
    return 0


def _model_exists(client: Any, name: str) -> bool:
    try:
        client.get_registered_model(name)
    except Exception as exc:
        if getattr(exc, "error_code", "") in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
            return False
        raise explain_mlflow_error(exc, "read", name) from exc
    return True
