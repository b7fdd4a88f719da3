"""Gate verdicts from data (pure): a metric gate's statistic against its limit, an approval against its minimum.

A verdict is PASS, FAIL or INCONCLUSIVE. Missing data is INCONCLUSIVE, which holds the rollout exactly like a
failure: a gate is never passed for lack of evidence (STYLE.md 5).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from control_plane.alarms.statistics import UnsupportedStatistic, aggregate
from registry.errors import UnknownName, UsageError
from registry.live_state import ApprovalRecord, param_approval
from registry.model import ApprovalGate, MetricGate, Registry

# Without a bake, gates are judged over this much recent data (registry.rules warns about it).
DEFAULT_WINDOW_SECONDS = 3600


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    INCONCLUSIVE = "inconclusive"


def compute_statistic(values: Sequence[float], statistic: str) -> float | None:
    """The statistic of raw samples, or None when there are none (missing data, never zero), computed exactly as
    the alarms' evaluator does (control_plane.alarms.statistics). Raises ValueError for one it cannot compute."""
    if statistic == "SampleCount":
        return float(len(values))
    if not values:
        return None
    try:
        return aggregate(values, statistic)
    except UnsupportedStatistic as exc:
        raise ValueError(f"statistic {statistic!r} cannot be computed from raw samples: {exc.what}") from exc


@dataclass(frozen=True)
class Window:
    """The time range a phase's gates are judged over."""

    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


def gate_window(entered_at: datetime, bake_seconds: int, now: datetime) -> Window:
    """The bake window: the last `bake` of the phase (all of it while the bake runs), the last hour without bake."""
    span = timedelta(seconds=bake_seconds or DEFAULT_WINDOW_SECONDS)
    return Window(start=max(entered_at, now - span), end=now)


@dataclass(frozen=True)
class Observation:
    """A statistic over a window as a metric source saw it; `value` None means no data."""

    value: float | None
    sample_count: int | None = None
    note: str = ""


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict, with what it measured and the limit, for people and for --json."""

    kind: str  # "metric" | "approval"
    label: str
    limit: str
    value: float | None
    verdict: Verdict
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "gate": self.label, "limit": self.limit, "value": self.value,
                "verdict": self.verdict.value, "reason": self.reason}


def metric_label(gate: MetricGate) -> str:
    dims = ",".join(f"{k}={v}" for k, v in sorted(gate.dimensions.items()))
    return f"{gate.metric} {gate.statistic}" + (f" [{dims}]" if dims else "")


def metric_limit(gate: MetricGate) -> str:
    parts = []
    if gate.below is not None:
        parts.append(f"< {gate.below:g}")
    if gate.above is not None:
        parts.append(f"> {gate.above:g}")
    return " and ".join(parts)


def judge_metric(gate: MetricGate, observation: Observation) -> GateResult:
    """PASS when the value is strictly inside every bound; no value is INCONCLUSIVE (hold, never pass)."""
    label, limit = metric_label(gate), metric_limit(gate)
    value = observation.value
    if value is None or (observation.sample_count == 0 and gate.statistic != "SampleCount"):
        why = observation.note or "no datapoints in the window"
        return GateResult("metric", label, limit, None, Verdict.INCONCLUSIVE, f"{label}: no data ({why}): holding")
    failed = [bound for bound, ok in (
        (f"< {gate.below:g}" if gate.below is not None else "", gate.below is None or value < gate.below),
        (f"> {gate.above:g}" if gate.above is not None else "", gate.above is None or value > gate.above),
    ) if not ok]
    if failed:
        return GateResult("metric", label, limit, value, Verdict.FAIL,
                          f"{label} is {value:g}, must be {' and '.join(failed)}")
    return GateResult("metric", label, limit, value, Verdict.PASS, f"{label} is {value:g} ({limit})")


def judge_approval(gate: ApprovalGate, record: ApprovalRecord | None, entered_at: datetime | None) -> GateResult:
    """PASS when a sign-off with score >= min_score was recorded since the phase became active."""
    label = f"approval {gate.approval}"
    limit = f">= {gate.min_score:g}/{gate.max_score:g}"
    if record is None:
        return GateResult("approval", label, limit, None, Verdict.INCONCLUSIVE, f"{label}: not recorded yet")
    if entered_at is not None and record.at < entered_at:
        return GateResult("approval", label, limit, record.score, Verdict.INCONCLUSIVE,
                          f"{label}: the score {record.score:g} by {record.by} predates entering the phase "
                          f"({record.at.isoformat()}); approve again")
    if record.score < gate.min_score:
        return GateResult("approval", label, limit, record.score, Verdict.FAIL,
                          f"{label}: {record.by} scored {record.score:g}, must be {limit}")
    return GateResult("approval", label, limit, record.score, Verdict.PASS,
                      f"{label}: {record.by} scored {record.score:g} ({limit})")


def param_approval_of(namespace: str, phase: str, approval: str) -> str:
    """One parameter per (phase, approval gate): `approvals/<phase>/<approval>` (a phase may have several)."""
    return f"{param_approval(namespace, phase)}/{approval}"


def approval_records(namespace: str, values: Mapping[str, str]) -> dict[tuple[str, str], ApprovalRecord]:
    """Recorded sign-offs by (phase, approval) from a namespace read; values that do not parse are skipped."""
    prefix = param_approval(namespace, "")
    records: dict[tuple[str, str], ApprovalRecord] = {}
    for name, value in values.items():
        if name.startswith(prefix):
            try:
                record = ApprovalRecord.model_validate_json(value)
            except ValueError:
                continue
            records[(record.phase, record.approval)] = record
    return records


def approval_gate_for(registry: Registry, phase: str, approval: str | None, score: float) -> ApprovalGate:
    """The approval gate a sign-off is for (the only one of the phase, or the one named); the score must be on
    its scale. UnknownName / UsageError otherwise."""
    policy_phase = registry.phase(phase)
    if policy_phase is None:
        raise UnknownName("phase", phase, [p.name for p in registry.all_phases()])
    gates = [g for g in policy_phase.gates if isinstance(g, ApprovalGate)]
    chosen = [g for g in gates if approval in (None, g.approval)]
    if len(chosen) != 1:
        names = [g.approval for g in gates]
        raise UnknownName("approval gate", approval, names,
                          what=f"phase {phase} has approval gates: {', '.join(names) or 'none'}")
    if not 0 <= score <= chosen[0].max_score:
        raise UsageError(f"score {score:g} is outside the gate's scale 0..{chosen[0].max_score:g}", where="score",
                         value=score)
    return chosen[0]
