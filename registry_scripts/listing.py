"""`list`: every version of the registered model in one readable table."""

from __future__ import annotations

import argparse
from typing import Any

from registry_scripts import audit
from registry_scripts._common import (
    CHALLENGER,
    CHAMPION,
    KEY_METRICS,
    aliases_by_version,
    all_versions,
    format_ms,
    format_number,
    get_client,
    table,
    tracking_uri,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--history",
        action="store_true",
        help="who held @champion and @challenger when, and every gate run (from the audit history)",
    )


def _metrics(client: Any, version: Any) -> dict[str, str]:
    """Metrics from the version's tags (set by register), else from its run."""
    tags = version.tags or {}
    values = {m: tags.get(f"metric.{m}", "") for m in KEY_METRICS}
    if not any(values.values()) and version.run_id:
        try:
            run_metrics = client.get_run(version.run_id).data.metrics
        except Exception:  # a deleted run should not break the listing
            run_metrics = {}
        values = {m: run_metrics.get(m, "") for m in KEY_METRICS}
    return {m: format_number(v) for m, v in values.items()}


def _when(iso: str | None) -> str:
    return iso[:19].replace("T", " ") if iso else "now"


def print_history(client: Any, name: str) -> None:
    """Alias tenures and gate runs as recorded by promote, rollback and gate."""
    events = audit.history(client, name)
    print(f"alias history of {name} on {tracking_uri()}: {len(events)} recorded event(s)")
    if not events:
        print("(nothing recorded yet: promote, rollback and gate record who did what)")
        return
    spans = sorted(audit.tenures(events), key=lambda t: (t.alias != CHAMPION, t.since))
    rows = [(f"@{t.alias}", t.version, _when(t.since), _when(t.until), t.by, t.how) for t in spans]
    print(table(("alias", "version", "from (UTC)", "until (UTC)", "set by", "how"), rows))
    gates = [e for e in events if e["action"] == "gate"]
    if gates:
        print()
        print("gate runs:")
        rows = [
            (
                _when(e["at"]),
                e["by"],
                e["version"],
                e["gate"].get("champion") or "-",
                "passed" if e["gate"]["passed"] else "refused",
                ", ".join(e["gate"].get("failed", [])),
                e.get("via", "gate"),
            )
            for e in gates
        ]
        print(table(("at (UTC)", "by", "candidate", "champion", "result", "failed checks", "run by"), rows))
    live = aliases_by_version(client, name)
    held = {a: v for v, aliases in live.items() for a in aliases}
    for alias in (CHAMPION, CHALLENGER):
        recorded = next((t.version for t in reversed(spans) if t.alias == alias and t.until is None), None)
        if held.get(alias) != recorded:
            print(
                f"note: @{alias} is now on {('v' + held[alias]) if alias in held else 'no version'}, "
                f"but the history ends with {('v' + recorded) if recorded else 'none'}: it was moved outside "
                "registry_scripts"
            )


def run(args: argparse.Namespace) -> int:
    name = args.registered_model_name
    client = get_client()
    if args.history:
        print_history(client, name)
        return 0
    versions = all_versions(client, name)
    if not versions:
        print(f"no versions of {name!r} on {tracking_uri()}")
        return 0
    alias_map = aliases_by_version(client, name)
    rows = []
    for v in versions:
        metrics = _metrics(client, v)
        aliases = ",".join(f"@{a}" for a in sorted(alias_map.get(str(v.version), [])))
        rows.append(
            (
                v.version,
                v.current_stage,
                aliases,
                *(metrics[m] for m in KEY_METRICS),
                format_ms(v.creation_timestamp),
                v.run_id or "-",
            )
        )
    print(f"{name} on {tracking_uri()}: {len(versions)} version(s)")
    print(table(("version", "stage", "aliases", *KEY_METRICS, "created (UTC)", "source run"), rows))
    return 0
