"""`rollback`: make the previous champion the champion (and Production) again, in one command.

The previous champion is the one ``promote`` recorded on the current champion; for versions promoted
by other means, the most recently promoted archived version is used instead.
"""

from __future__ import annotations

import argparse
from typing import Any

from registry_scripts import audit
from registry_scripts._common import (
    CHAMPION,
    TAG_PREVIOUS_CHAMPION,
    TAG_PROMOTED_AT,
    TAG_ROLLED_BACK_AT,
    CommandError,
    all_versions,
    explain_mlflow_error,
    get_client,
    now_iso,
    version_by_alias,
)
from registry_scripts.promote import set_stage_and_alias


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="print what would change, change nothing")


def previous_champion(client: Any, name: str, champion: Any) -> Any:
    """The version to go back to, or a CommandError explaining that there is none.

    The audit history decides first (the champion before this one, with earlier rollbacks undone);
    versions promoted before the history existed fall back to the tags ``promote`` writes.
    """
    versions = {str(v.version): v for v in all_versions(client, name)}
    from_history = audit.previous_champion_version(audit.history(client, name), str(champion.version))
    if from_history in versions:
        return versions[from_history]
    recorded = (champion.tags or {}).get(TAG_PREVIOUS_CHAMPION)
    if recorded and recorded in versions:
        return versions[recorded]
    earlier = [v for k, v in versions.items() if k != str(champion.version) and _was_champion(v)]
    if earlier:
        return max(earlier, key=lambda v: (v.tags[TAG_PROMOTED_AT], int(v.version)))
    raise CommandError(
        f"{name} v{champion.version} is the champion and no earlier champion is recorded: nothing to roll back to"
    )


def _was_champion(version: Any) -> bool:
    """Promoted to production at some point and not rolled back since (a rolled-back version is no target)."""
    tags = version.tags or {}
    promoted = tags.get(TAG_PROMOTED_AT)
    return bool(promoted) and tags.get(TAG_ROLLED_BACK_AT, "") < promoted


def run(args: argparse.Namespace) -> int:
    name = args.registered_model_name
    client = get_client()
    champion = version_by_alias(client, name, CHAMPION)
    if champion is None:
        raise CommandError(f"{name} has no @{CHAMPION}: nothing to roll back")
    target = previous_champion(client, name, champion)
    current, back = str(champion.version), str(target.version)
    prefix = "dry run: would " if args.dry_run else ""
    print(f"{prefix}roll back {name}: @{CHAMPION}/Production v{current} -> v{back} (v{current} archived)")
    if args.dry_run:
        return 0
    set_stage_and_alias(client, name, back, "Production", CHAMPION, restore_alias_to=current)
    try:
        client.set_model_version_tag(name, current, TAG_ROLLED_BACK_AT, now_iso())
    except Exception as exc:
        raise explain_mlflow_error(exc, "tag", name) from exc
    event = audit.record(client, name, "rollback", back, [(CHAMPION, current, back)], stage="Production")
    audit.tag_version(client, name, current, {"rolled_back_by": event["by"]})
    print(f"rolled back: models:/{name}@{CHAMPION} and models:/{name}/Production now resolve to v{back}")
    return 0
