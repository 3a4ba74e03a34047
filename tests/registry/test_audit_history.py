"""The audit history's pure parts: alias tenures, the rollback undo stack, the tag size limit."""

from __future__ import annotations

import pytest

from registry_scripts import audit


def _event(action: str, *moves: tuple[str, str | None, str | None], at: str = "t") -> dict:
    return {"action": action, "at": at, "by": "u", "moves": [{"alias": a, "from": f, "to": t} for a, f, t in moves]}


def test_rollback_undoes_promotions_in_order_and_a_repromotion_is_a_new_entry() -> None:
    events = [
        _event("promote", ("champion", None, "1")),
        _event("promote", ("champion", "1", "2")),
        _event("promote", ("champion", "2", "3")),
        _event("rollback", ("champion", "3", "2")),
    ]
    assert audit.previous_champion_version(events, "2") == "1"
    events.append(_event("promote", ("champion", "2", "3")))
    assert audit.champion_stack(events) == ["1", "2", "3"]
    assert audit.previous_champion_version(events, "3") == "2"


def test_history_that_disagrees_with_the_live_alias_gives_no_answer() -> None:
    events = [_event("promote", ("champion", None, "1")), _event("promote", ("champion", "1", "2"))]
    assert audit.previous_champion_version(events, "5") is None
    assert audit.previous_champion_version(events[:1], "1") is None


def test_tenures_close_when_the_alias_moves_or_is_removed() -> None:
    events = [
        _event("promote", ("challenger", None, "2"), at="a"),
        _event("promote", ("champion", None, "2"), ("challenger", "2", None), at="b"),
    ]
    spans = {(t.alias, t.version): (t.since, t.until) for t in audit.tenures(events)}
    assert spans == {("challenger", "2"): ("a", "b"), ("champion", "2"): ("b", None)}


def test_oversized_gate_table_is_dropped_to_fit_the_postgres_tag_column() -> None:
    checks = [[f"check {i}", "x" * 100, "y" * 100, "limit", True] for i in range(60)]
    value = audit._fit({"action": "gate", "gate": {"passed": True, "failed": [], "checks": checks}})
    assert len(value) <= audit.TAG_VALUE_LIMIT and '"checks"' not in value and '"passed":true' in value
    with pytest.raises(ValueError, match="tag limit"):
        audit._fit({"action": "gate", "note": "z" * audit.TAG_VALUE_LIMIT})
