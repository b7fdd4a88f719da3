"""Helpers for tests that derive registries from the example by textual edits and check located diagnostics."""

from __future__ import annotations

from pathlib import Path

from registry.errors import Diagnostic, Location

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "voice-m2.yaml"


def example_text() -> str:
    return EXAMPLE.read_text(encoding="utf-8")


def edit(text: str, old: str, new: str, count: int = 1) -> str:
    """Replace `old` (which must occur exactly `count` times, so an edit never silently misses) with `new`."""
    found = text.count(old)
    assert found == count, f"edit target occurs {found} times, expected {count}: {old!r}"
    return text.replace(old, new)


def position(text: str, needle: str) -> Location:
    """The 1-based line and column where `needle` (unique in `text`) starts, or where its `»` mark is."""
    before, _, after = needle.rpartition("»")
    needle = before + after
    assert text.count(needle) == 1, f"anchor must be unique, occurs {text.count(needle)} times: {needle!r}"
    offset = text.index(needle) + len(before)
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return Location("f.yaml", line, column)


def only_match(diagnostics: list[Diagnostic], substring: str, severity: str = "error") -> Diagnostic:
    """The single diagnostic of `severity` whose message contains `substring`."""
    hits = [d for d in diagnostics if d.severity == severity and substring in d.message]
    shown = "\n".join(str(d) for d in diagnostics)
    assert len(hits) == 1, f"expected one {severity} containing {substring!r}, got {len(hits)}:\n{shown}"
    return hits[0]
