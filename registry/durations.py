"""Durations as people write them in the registry: `30s`, `30m`, `48h`, `2d`, `1h30m`."""

from __future__ import annotations

import re

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+)([smhdw])")
_WHOLE = re.compile(r"(?:\d+[smhdw])+")


def parse_duration(text: str) -> int:
    """Return the number of seconds in `text`; raise ValueError with a fix-it message when it does not parse."""
    cleaned = text.strip().lower()
    if not _WHOLE.fullmatch(cleaned):
        raise ValueError(f"invalid duration {text!r}: write a number and a unit, e.g. 30m, 48h, 2d or 1h30m")
    return sum(int(n) * _UNITS[u] for n, u in _PART.findall(cleaned))


def format_duration(seconds: float) -> str:
    """Render seconds compactly (`2d 3h`, `45m`, `12s`), the inverse people expect of parse_duration."""
    total = round(seconds)
    if total <= 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        n, total = divmod(total, size)
        if n:
            parts.append(f"{n}{unit}")
    return " ".join(parts[:2])
