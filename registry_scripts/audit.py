"""Who moved which alias, when, from which version to which: an append-only history on the registry.

MLflow keeps no alias history (moving ``@champion`` overwrites it), so every ``promote``,
``rollback`` and ``gate`` appends one event to the registered model itself: one registered-model
tag per event, keyed ``audit.<UTC time to the microsecond>.<random>``. One tag per event means
nothing is ever rewritten (two operators at once cannot lose each other's record) and no value
grows: each stays under :data:`TAG_VALUE_LIMIT`. The same facts go on the version as version tags.
"""

from __future__ import annotations

import getpass
import json
import re
import secrets
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from registry_scripts._common import CHAMPION, explain_mlflow_error, tracking_uri

AUDIT_PREFIX = "audit."
#: registered_model_tags.value is VARCHAR(5000) in MLflow's SQL schema: PostgreSQL enforces it
#: (SQLite does not), although MLflow's own validator allows 100,000 characters.
TAG_VALUE_LIMIT = 5000
_KEY = re.compile(r"^audit\.(\d{8}T\d{12}Z)\.[0-9a-f]{8}$")
_clock_lock = threading.Lock()
_last_stamp: list[datetime] = []


@dataclass(frozen=True)
class Actor:
    """Who ran the command: the MLflow user the server authenticated, else the OS user."""

    name: str
    source: str  # "mlflow" (confirmed by the tracking server) or "os"
    os_user: str


def current_actor(uri: str | None = None) -> Actor:
    """Ask the tracking server who we are (basic-auth servers answer ``/users/current``); a server
    without auth, or a local store, cannot vouch for a name, so the OS user is recorded instead."""
    os_user = getpass.getuser()
    uri = uri or tracking_uri()
    if uri.startswith(("http://", "https://")):
        from mlflow.utils.credentials import get_default_host_creds
        from mlflow.utils.rest_utils import http_request

        try:
            response = http_request(
                get_default_host_creds(uri), "/api/2.0/mlflow/users/current", "GET", max_retries=0, timeout=10
            )
            if response.status_code == 200:
                return Actor(str(response.json()["user"]["username"]), "mlflow", os_user)
        except Exception:  # no auth app, or an older server: fall back to the OS user
            pass
    return Actor(os_user, "os", os_user)


def _stamp() -> datetime:
    """Strictly increasing within this process, so events of one command keep their order."""
    with _clock_lock:
        now = datetime.now(UTC)
        if _last_stamp and now <= _last_stamp[0]:
            now = _last_stamp[0] + timedelta(microseconds=1)
        _last_stamp[:] = [now]
        return now


def _fit(event: dict[str, Any]) -> str:
    """The event as compact JSON under the tag limit (the gate's per-check table is dropped first)."""
    value = json.dumps(event, separators=(",", ":"), sort_keys=True)
    if len(value) > TAG_VALUE_LIMIT and isinstance(event.get("gate"), dict):
        event = {**event, "gate": {k: v for k, v in event["gate"].items() if k != "checks"}}
        value = json.dumps(event, separators=(",", ":"), sort_keys=True)
    if len(value) > TAG_VALUE_LIMIT:
        raise ValueError(f"audit event of {len(value)} characters exceeds the {TAG_VALUE_LIMIT}-character tag limit")
    return value


def record(
    client: Any,
    name: str,
    action: str,
    version: str,
    moves: Sequence[tuple[str, str | None, str | None]] = (),
    actor: Actor | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Append one event: ``moves`` are (alias, from version, to version) changes it made."""
    actor = actor or current_actor()
    at = _stamp()
    event: dict[str, Any] = {
        "action": action,
        "at": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "by": actor.name,
        "by_source": actor.source,
        "os_user": actor.os_user,
        "version": str(version),
        "moves": [{"alias": a, "from": f, "to": t} for a, f, t in moves],
        **extra,
    }
    key = f"{AUDIT_PREFIX}{at.strftime('%Y%m%dT%H%M%S%f')}Z.{secrets.token_hex(4)}"
    try:
        client.set_registered_model_tag(name, key, _fit(event))
    except Exception as exc:
        err = explain_mlflow_error(exc, f"record the {action} in the audit history of", name)
        raise type(err)(f"{err} (the {action} itself was done; its audit record is missing)", err.exit_code) from exc
    return event


def tag_version(client: Any, name: str, version: str, tags: dict[str, str]) -> None:
    try:
        for key, value in tags.items():
            client.set_model_version_tag(name, version, key, value)
    except Exception as exc:
        raise explain_mlflow_error(exc, "tag", name) from exc


def history(client: Any, name: str) -> list[dict[str, Any]]:
    """Every recorded event, oldest first (tags that are not audit events are ignored)."""
    try:
        tags = client.get_registered_model(name).tags or {}
    except Exception as exc:
        raise explain_mlflow_error(exc, "read the audit history of", name) from exc
    events = []
    for key in sorted(k for k in tags if _KEY.match(k)):
        try:
            events.append(json.loads(tags[key]))
        except ValueError:
            continue  # a hand-edited tag: skip it rather than fail the listing
    return events


@dataclass
class Tenure:
    """One stretch of time a version held an alias."""

    alias: str
    version: str
    since: str
    until: str | None
    by: str
    how: str


def tenures(events: Iterable[dict[str, Any]]) -> list[Tenure]:
    """Who held each alias when, from the recorded moves (open tenures have ``until`` None)."""
    out: list[Tenure] = []
    holding: dict[str, Tenure] = {}
    for event in events:
        for move in event.get("moves", []):
            alias = move["alias"]
            current = holding.pop(alias, None)
            if current is not None:
                current.until = event["at"]
            if move.get("to"):
                how = event["action"] + (" --force" if event.get("forced") else "")
                tenure = Tenure(alias, str(move["to"]), event["at"], None, event["by"], how)
                holding[alias] = tenure
                out.append(tenure)
    return out


def champion_stack(events: Iterable[dict[str, Any]]) -> list[str]:
    """Champion versions as an undo stack: promote pushes, rollback pops back to the one before."""
    stack: list[str] = []
    for event in events:
        for move in event.get("moves", []):
            if move["alias"] != CHAMPION or not move.get("to"):
                continue
            if event["action"] == "rollback":
                if stack:
                    stack.pop()
                if not stack or stack[-1] != str(move["to"]):
                    stack.append(str(move["to"]))
            else:
                stack.append(str(move["to"]))
    return stack


def previous_champion_version(events: Iterable[dict[str, Any]], current: str) -> str | None:
    """The champion before ``current`` per the history, or None when the history does not know
    (no events, or the alias was moved outside these commands since)."""
    stack = champion_stack(events)
    if len(stack) >= 2 and stack[-1] == str(current):
        return stack[-2]
    return None
