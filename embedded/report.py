"""The demo's record and what it says: timeline, per-variant TTFA, traffic shares, alarm-to-baseline time, checks.

Everything here is a pure function of what the scenario recorded (turn results from the synthetic callers and
timestamped events from the control plane), so the same record always gives the same report, table and JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from embedded.conversation import TurnResult
from embedded.loadtest import distribution

EventKind = Literal["stack", "apply", "phase", "gate", "inject", "alarm", "override", "runtime", "revert", "note"]


@dataclass(frozen=True)
class Event:
    """Something the control plane did or saw, `at_s` seconds after the scenario's origin."""

    at_s: float
    kind: EventKind
    title: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    """One expectation of the scenario and whether it held."""

    name: str
    ok: bool
    detail: str


@dataclass
class DemoRecord:
    """What the scenario accumulates while it runs."""

    baseline: str
    watched: str  # the canary variant the regression is injected into
    alarm: str = ""  # the alarm expected to revert it
    turns: list[TurnResult] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def first(self, kind: EventKind, title_prefix: str = "") -> Event | None:
        return next((e for e in self.events if e.kind == kind and e.title.startswith(title_prefix)), None)


def share_timeline(turns: Iterable[TurnResult], *, bin_s: float = 2.0,
                   internal: bool | None = False) -> list[tuple[float, dict[str, float]]]:
    """Traffic share (% of turns started in each bin) per variant; `internal` False keeps external callers only."""
    bins: dict[int, dict[str, int]] = {}
    for t in turns:
        if t.variant is None or (internal is not None and t.internal != internal):
            continue
        counts = bins.setdefault(int(t.at_s // bin_s), {})
        counts[t.variant] = counts.get(t.variant, 0) + 1
    out = []
    for b in sorted(bins):
        total = sum(bins[b].values())
        out.append((b * bin_s, {v: 100.0 * n / total for v, n in sorted(bins[b].items())}))
    return out


def rolling_share(turns: Iterable[TurnResult], *, window_s: float = 6.0, step_s: float = 1.0,
                  internal: bool | None = False) -> list[tuple[float, dict[str, float]]]:
    """Share (%) per variant of the turns started within `window_s` centred on t, every `step_s` (smoother than
    bins, and centred so that a change shows where it happened rather than half a window late)."""
    rows = sorted((t.at_s, t.variant) for t in turns
                  if t.variant is not None and (internal is None or t.internal == internal))
    if not rows:
        return []
    out = []
    t = rows[0][0]
    end = rows[-1][0]
    while t <= end:
        counts: dict[str, int] = {}
        for at, variant in rows:
            if t - window_s / 2 <= at < t + window_s / 2:
                counts[variant] = counts.get(variant, 0) + 1
        total = sum(counts.values())
        if total:
            out.append((round(t, 3), {v: 100.0 * n / total for v, n in sorted(counts.items())}))
        t += step_s
    return out


def ttfa_stats(turns: Iterable[TurnResult], *, start_s: float = 0.0, end_s: float = float("inf"),
               internal: bool | None = None) -> dict[str, dict[str, Any]]:
    """Client-side TTFA p50/p95/p99 per variant (HDR) for turns started in [start_s, end_s)."""
    by_variant: dict[str, list[float]] = {}
    for t in turns:
        if t.variant is None or t.client_ttfa_ms is None or not t.ok or t.reason == "interrupted":
            continue
        if internal is not None and t.internal != internal:
            continue
        if start_s <= t.at_s < end_s:
            by_variant.setdefault(t.variant, []).append(t.client_ttfa_ms)
    return {v: distribution(values).as_dict() for v, values in sorted(by_variant.items())}


def last_non_baseline_turn(turns: Iterable[TurnResult], *, baseline: str, after_s: float) -> float | None:
    """Start time of the last external turn served by something other than the baseline after `after_s`."""
    times = [t.at_s for t in turns if t.at_s >= after_s and t.variant not in (None, baseline)
             and not t.internal]
    return max(times) if times else None


def alarm_to_runtime_s(record: DemoRecord) -> float | None:
    """Seconds from the alarm going to ALARM until the runtime's registry cache holds the override: from then on
    every new turn resolves to the baseline, whichever subject starts it (the guarantee, not a sample)."""
    alarm = record.first("alarm", f"ALARM {record.alarm}")
    seen = record.first("runtime")
    if alarm is None or seen is None:
        return None
    return round(seen.at_s - alarm.at_s, 3)


def alarm_to_baseline_s(record: DemoRecord) -> float | None:
    """Seconds from the alarm going to ALARM until every new external turn is served by the baseline.

    That is the start of the first baseline turn after the last non-baseline turn that began after the alarm
    (or the alarm time itself when none began after it); None when the alarm never fired.
    """
    alarm = record.first("alarm", f"ALARM {record.alarm}")
    if alarm is None:
        return None
    last = last_non_baseline_turn(record.turns, baseline=record.baseline, after_s=alarm.at_s)
    if last is None:
        return 0.0
    later = [t.at_s for t in record.turns if t.at_s > last and t.variant == record.baseline]
    return round((min(later) if later else last) - alarm.at_s, 3)


def summary(record: DemoRecord) -> dict[str, Any]:
    """The report as one JSON-able dict: timeline, TTFA per variant before/after the regression, shares, checks."""
    inject = record.first("inject")
    alarm = record.first("alarm", f"ALARM {record.alarm}")
    override = record.first("override")
    split = inject.at_s if inject else float("inf")
    errors = [t for t in record.turns if not t.ok]
    return {
        "baseline": record.baseline,
        "watched_variant": record.watched,
        "meta": record.meta,
        "turns": len(record.turns),
        "errors": len(errors),
        "error_codes": sorted({t.error or t.reason for t in errors}),
        "ttfa_before_regression": ttfa_stats(record.turns, end_s=split),
        "ttfa_after_regression": ttfa_stats(record.turns, start_s=split) if inject else {},
        "regression_injected_at_s": inject.at_s if inject else None,
        "alarm_at_s": alarm.at_s if alarm else None,
        "override_at_s": override.at_s if override else None,
        "alarm_to_override_s": round(override.at_s - alarm.at_s, 3) if alarm and override else None,
        "alarm_to_all_baseline_s": alarm_to_baseline_s(record),
        "alarm_to_runtime_cache_s": alarm_to_runtime_s(record),
        "events": [asdict(e) for e in record.events],
        "checks": [asdict(c) for c in record.checks],
        "ok": all(c.ok for c in record.checks) and bool(record.checks),
    }


def phase_rows(record: DemoRecord) -> list[tuple[str, str, str]]:
    """(time, phase, weights) per phase change, for the summary table."""
    rows = []
    for e in record.events:
        if e.kind == "phase":
            text = ", ".join(f"{v} {w:g}%" for v, w in sorted(e.detail.get("weights", {}).items()) if w)
            internal = e.detail.get("internal_weights") or {}
            if internal:
                text += "; internal: " + ", ".join(f"{v} {w:g}%" for v, w in sorted(internal.items()) if w)
            rows.append((f"{e.at_s:6.1f}s", str(e.detail.get("phase", e.title)), text))
    return rows


def write_json(path: Path, record: DemoRecord, *, include_turns: bool = True) -> Path:
    """Write the summary (and every turn, for replotting) as pretty JSON; returns the path."""
    doc = summary(record)
    if include_turns:
        doc["turn_results"] = [t.as_dict() for t in record.turns]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n")
    return path


def fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


def event_lines(events: Sequence[Event]) -> list[str]:
    """The timeline as plain lines, `  12.3s  kind   title`."""
    return [f"{e.at_s:7.1f}s  {e.kind:<8} {e.title}" for e in events]
