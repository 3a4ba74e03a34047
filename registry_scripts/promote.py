"""`promote`: move a version to Staging (alias challenger) or Production (alias champion).

Stages are deprecated in MLflow but still resolve (``models:/name/Production``), and aliases are
what new code uses (``models:/name@champion``), so both are kept in step. Production promotion
runs the gate first unless ``--force``; the previous champion is recorded on the new one so that
``rollback`` knows where to go back to.
"""

from __future__ import annotations

import argparse
import contextlib
from typing import Any

from registry_scripts import audit, gate
from registry_scripts._common import (
    ALIAS_FOR,
    CHALLENGER,
    CHAMPION,
    STAGE_FOR,
    TAG_PREVIOUS_CHAMPION,
    TAG_PROMOTED_AT,
    CommandError,
    explain_mlflow_error,
    get_client,
    get_version,
    latest_version,
    now_iso,
    quiet_stage_warnings,
    version_by_alias,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--version", type=int, help="version number to promote")
    which.add_argument("--latest", action="store_true", help="promote the highest version number")
    parser.add_argument("--to", required=True, choices=sorted(STAGE_FOR), help="target: staging or production")
    parser.add_argument("--dry-run", action="store_true", help="print what would change, change nothing")
    parser.add_argument("--force", action="store_true", help="skip the gate when promoting to production")
    gate.add_gate_options(parser)


def set_stage_and_alias(
    client: Any,
    name: str,
    version: str,
    stage: str,
    alias: str,
    tags: dict[str, str] | None = None,
    restore_alias_to: str | None = None,
) -> None:
    """Alias first (what serving resolves), then stage (archiving the previous holder), then tags.

    If the stage change fails after the alias moved, the alias is put back so the two never disagree.
    """
    action = f"move alias {alias!r} on"
    try:
        client.set_registered_model_alias(name, alias, version)
        action = f"transition a version to {stage} in"
        with quiet_stage_warnings():
            client.transition_model_version_stage(name, version, stage, archive_existing_versions=True)
        action = "tag"
        for key, value in (tags or {}).items():
            client.set_model_version_tag(name, version, key, value)
    except Exception as exc:
        if action.startswith("transition") and restore_alias_to:
            with contextlib.suppress(Exception):  # report the original failure, not this one
                client.set_registered_model_alias(name, alias, restore_alias_to)
        raise explain_mlflow_error(exc, action, name) from exc


def run(args: argparse.Namespace) -> int:
    name = args.registered_model_name
    client = get_client()
    mv = latest_version(client, name) if args.latest else get_version(client, name, args.version)
    version = str(mv.version)
    stage, alias = STAGE_FOR[args.to], ALIAS_FOR[args.to]
    prefix = "dry run: would " if args.dry_run else ""

    if mv.current_stage == stage and alias in (mv.aliases or []):
        print(f"{name} v{version} is already {stage} with alias @{alias}: nothing to do.")
        return 0
    champion = version_by_alias(client, name, CHAMPION)
    champion_version = str(champion.version) if champion else None

    if args.to == "staging":
        if champion_version == version:
            raise CommandError(f"v{version} is the current champion; use rollback or promote another version instead")
        print(f"{prefix}set {name} v{version} to Staging (archiving any other Staging version) and alias @{CHALLENGER}")
        if not args.dry_run:
            challenger = version_by_alias(client, name, CHALLENGER)
            set_stage_and_alias(client, name, version, stage, alias)
            moves = [(CHALLENGER, str(challenger.version) if challenger else None, version)]
            event = audit.record(client, name, "promote", version, moves, stage=stage, forced=False)
            audit.tag_version(
                client, name, version, {"promoted_to_staging_at": event["at"], "promoted_to_staging_by": event["by"]}
            )
            print(f"promoted {name} v{version} to Staging; models:/{name}@{CHALLENGER} now resolves to it")
        return 0

    if args.force:
        print("--force given: skipping the gate.")
    else:
        print(f"running the gate for v{version} against the champion (skip with --force)...")
        result = gate.evaluate_from_args(client, name, int(version), args)
        gate.print_result(result, name)
        if not args.dry_run:
            gate.record_result(client, name, result, args, via="promote")
        if not result.passed:
            print(f"not promoted: {name} v{version} was refused by the gate (see the table above).")
            return gate.EXIT_REFUSED

    archived = f"v{champion_version}" if champion_version else "no previous champion"
    print(f"{prefix}set {name} v{version} to Production with alias @{CHAMPION} (archiving {archived})")
    if args.dry_run:
        return 0
    tags = {TAG_PROMOTED_AT: now_iso()}
    if champion_version and champion_version != version:
        tags[TAG_PREVIOUS_CHAMPION] = champion_version
    set_stage_and_alias(client, name, version, stage, alias, tags, restore_alias_to=champion_version)
    if CHALLENGER in (mv.aliases or []):
        try:
            client.delete_registered_model_alias(name, CHALLENGER)
        except Exception as exc:
            raise explain_mlflow_error(exc, "remove alias @challenger from", name) from exc
        print(f"removed alias @{CHALLENGER} from v{version}")
    moves = [(CHAMPION, champion_version, version)]
    if CHALLENGER in (mv.aliases or []):
        moves.append((CHALLENGER, version, None))
    event = audit.record(client, name, "promote", version, moves, stage=stage, forced=bool(args.force))
    audit.tag_version(client, name, version, {"promoted_to_production_by": event["by"]})
    print(
        f"promoted {name} v{version} to Production; models:/{name}@{CHAMPION} and models:/{name}/Production "
        f"now resolve to it" + (f" (previous champion v{champion_version}, archived)" if champion_version else "")
    )
    return 0
