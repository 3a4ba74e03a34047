"""Helpers shared by the registry commands: client set-up, error translation, version lookup, tables.

Errors a user can act on are raised as :class:`CommandError` with a one-paragraph message; the
entry point prints it and exits non-zero instead of dumping a traceback.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import requests

DEFAULT_MODEL_NAME = "product-classifier"
CHAMPION = "champion"
CHALLENGER = "challenger"
STAGE_FOR = {"staging": "Staging", "production": "Production"}
ALIAS_FOR = {"staging": CHALLENGER, "production": CHAMPION}
KEY_METRICS = ("macro_f1", "macro_f1_title_only", "accuracy", "ece")
# Version tags this package writes (register, promote, rollback).
TAG_PREVIOUS_CHAMPION = "previous_champion"
TAG_PROMOTED_AT = "promoted_to_production_at"
TAG_ROLLED_BACK_AT = "rolled_back_at"

EXIT_ERROR = 2
EXIT_PERMISSION = 3


class CommandError(Exception):
    """A failure with a message meant for the user (no traceback) and an exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@contextlib.contextmanager
def quiet_stage_warnings() -> Iterator[None]:
    """Hide MLflow's 'stages are deprecated' FutureWarning: we use stages on purpose, alongside aliases."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=FutureWarning)
        yield


def load_uncaptured(model_uri: str) -> Any:
    """``mlflow.pyfunc.load_model`` with inference capture off: what the registry commands score
    (held-out rows, replays, review rows) is not production traffic and must not join the capture,
    whatever the shell's ``PRODUCT_CLASSIFIER_CAPTURE_URI`` says (capture settings are read at load)."""
    import mlflow.pyfunc

    from pyfunc_model.capture.settings import ENV_URI

    saved = os.environ.pop(ENV_URI, None)
    try:
        return mlflow.pyfunc.load_model(model_uri)
    finally:
        if saved is not None:
            os.environ[ENV_URI] = saved


def tracking_uri() -> str:
    import mlflow

    return mlflow.get_tracking_uri()


def check_tracking_server(uri: str | None = None, timeout: float = 5.0) -> str:
    """Fail fast, naming the URI, when an HTTP tracking server is not answering.

    MLflow's own client retries for minutes with backoff before giving up; one probe of
    ``/health`` answers "is anything there?" in milliseconds.
    """
    uri = uri or tracking_uri()
    if uri.startswith(("http://", "https://")):
        try:
            requests.get(f"{uri.rstrip('/')}/health", timeout=timeout)
        except requests.RequestException as exc:
            raise CommandError(
                f"cannot reach the MLflow tracking server at {uri} ({type(exc).__name__}). "
                "Is it running? Check MLFLOW_TRACKING_URI."
            ) from exc
    return uri


def get_client() -> Any:
    """An MlflowClient for the configured tracking/registry URI, after the reachability check."""
    from mlflow import MlflowClient

    check_tracking_server()
    return MlflowClient()


def explain_mlflow_error(exc: Exception, action: str, name: str) -> CommandError:
    """Turn an MLflow/HTTP exception into a message that says what was refused and why."""
    text = str(exc)
    status = getattr(exc, "get_http_status_code", lambda: None)()
    code = getattr(exc, "error_code", "")
    if status == 403 or code == "PERMISSION_DENIED" or "Permission denied" in text:
        from mlflow.environment_variables import MLFLOW_TRACKING_USERNAME

        user = MLFLOW_TRACKING_USERNAME.get() or "(anonymous)"
        return CommandError(
            f"permission denied: user {user!r} may not {action} registered model {name!r} on {tracking_uri()}. "
            "Registering, promoting, archiving and moving aliases need EDIT or MANAGE permission on the "
            "registered model; ask an MLflow admin to grant it.",
            EXIT_PERMISSION,
        )
    if status == 401 or "Unauthorized" in text or code == "UNAUTHENTICATED":
        return CommandError(
            f"not authenticated to {tracking_uri()}: set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD.",
            EXIT_PERMISSION,
        )
    first_line = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return CommandError(f"could not {action} {name!r} on {tracking_uri()}: {first_line}")


def get_version(client: Any, name: str, version: int | str) -> Any:
    try:
        return client.get_model_version(name, str(version))
    except Exception as exc:
        if getattr(exc, "error_code", "") in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
            raise CommandError(f"{name!r} has no version {version} on {tracking_uri()}") from exc
        raise explain_mlflow_error(exc, "read", name) from exc


def all_versions(client: Any, name: str) -> list[Any]:
    """Every version of ``name``, newest first."""
    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except Exception as exc:
        raise explain_mlflow_error(exc, "list", name) from exc
    return sorted(versions, key=lambda v: int(v.version), reverse=True)


def latest_version(client: Any, name: str) -> Any:
    """The highest version, fetched individually (search results carry no aliases)."""
    versions = all_versions(client, name)
    if not versions:
        raise CommandError(f"registered model {name!r} has no versions on {tracking_uri()}")
    return get_version(client, name, versions[0].version)


def aliases_by_version(client: Any, name: str) -> dict[str, list[str]]:
    """version -> aliases, from the registered model (search_model_versions leaves aliases empty)."""
    try:
        aliases = client.get_registered_model(name).aliases or {}
    except Exception as exc:
        raise explain_mlflow_error(exc, "read", name) from exc
    out: dict[str, list[str]] = {}
    for alias, version in aliases.items():
        out.setdefault(str(version), []).append(alias)
    return out


def version_by_alias(client: Any, name: str, alias: str) -> Any | None:
    """The version holding ``alias``, or None when no version holds it (or the model does not exist)."""
    try:
        return client.get_model_version_by_alias(name, alias)
    except Exception as exc:
        if getattr(exc, "error_code", "") in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
            return None
        raise explain_mlflow_error(exc, "read", name) from exc


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_ms(timestamp_ms: int | None) -> str:
    if not timestamp_ms:
        return ""
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def format_number(value: Any, digits: int = 4) -> str:
    try:
        return f"{float(value):.{digits}f}"
    except (TypeError, ValueError):
        return "" if value is None else str(value)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain fixed-width text table (no dependency, pastes into tickets)."""
    cells = [[str(h) for h in headers], *[["" if c is None else str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def model_uri_for(name: str, version: int | str) -> str:
    return f"models:/{name}/{version}"
