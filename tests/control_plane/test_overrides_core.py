"""Overrides: VARIANT=SHARE parsing, the person's record, what a clear touches (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from control_plane.overrides import clearable, parse_assignment, person_override, runbook_pins_left
from registry.compiled import compile_registry
from registry.errors import UsageError
from registry.live_state import LiveState, OverrideRecord
from registry.loader import load_registry

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def test_parse_assignment(example_path: Path) -> None:
    compiled = compile_registry(load_registry(example_path))
    assert parse_assignment("sonic-unified=0", compiled) == ("sonic-unified", 0)
    assert parse_assignment(" sonic-unified = 25% ", compiled) == ("sonic-unified", 25)
    for bad, match in [("sonic-unified", "VARIANT=SHARE"), ("sonic-unified=x", "whole percent"),
                       ("sonic-unified=101", "between 0 and 100"), ("ghost=0", "unknown variant")]:
        with pytest.raises(UsageError, match=match):
            parse_assignment(bad, compiled)


def test_person_override_needs_a_reason() -> None:
    record = person_override("sonic-unified", 0, actor="bob", reason="choppy", at=T0)
    assert (record.source, record.actor, record.share) == ("person", "bob", 0)
    with pytest.raises(UsageError, match="reason"):
        person_override("sonic-unified", 0, actor="bob", reason=" ", at=T0)


def test_clearable_and_pins_left() -> None:
    o = OverrideRecord(variant="a", share=0, at=T0)
    state = LiveState(overrides={"a": o, "b": o.model_copy(update={"variant": "b"})}, runbook={"a": 0})
    assert clearable(state, None) == ["a", "b"]
    assert clearable(state, "b") == ["b"]
    with pytest.raises(UsageError, match="no override is set"):
        clearable(state, "c")
    assert runbook_pins_left(state, ["a", "b"]) == ["a"]
