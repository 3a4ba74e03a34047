"""`list`: every version of the registered model in one readable table."""

from __future__ import annotations

import argparse
from typing import Any

from registry_scripts._common import (
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
    del parser  # no options beyond --registered-model-name


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


def run(args: argparse.Namespace) -> int:
    name = args.registered_model_name
    client = get_client()
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
