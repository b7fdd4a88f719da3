"""Status (pure): the live rollout as one document, for the rich tables and for `voicectl status --json`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from control_plane.rollout.decommission import DueStep
from control_plane.rollout.guard import Decision
from control_plane.runbook import emergency_map, map_json
from registry.durations import format_duration
from registry.live_state import LiveState, effective_weights, param_runbook


@dataclass(frozen=True)
class StatusInput:
    namespace: str
    state: LiveState
    phase: str
    path: str | None
    since: datetime | None
    now: datetime
    next_phase: str | None
    decision: Decision | None  # the guard for the next phase; None when not judged (no file, last phase)
    alarms: Mapping[str, str | None]
    decommission: Sequence[DueStep] = ()
    note: str = ""


def build_status(s: StatusInput) -> dict[str, object]:
    """Everything `voicectl status` shows, JSON-ready: what runtimes serve and why, and what advance would say."""
    state = s.state
    ttl = state.registry.cache_ttl_seconds if state.registry else None
    bake_left = None
    if s.decision is not None:
        bake_left = max(0.0, (s.decision.bake_ends_at - s.now).total_seconds())
    return {
        "namespace": s.namespace,
        "now": s.now.isoformat(),
        "registry_digest": state.registry.digest if state.registry else None,
        "phase": {
            "name": s.phase, "path": s.path,
            "since": s.since.isoformat() if s.since else None,
            "initialised": state.phase is not None,
            "actor": state.phase.actor if state.phase else None,
            "reason": state.phase.reason if state.phase else None,
            "bake_ends_at": s.decision.bake_ends_at.isoformat() if s.decision else None,
            "bake_remaining_seconds": bake_left,
            "bake_remaining": format_duration(bake_left) if bake_left else ("0s" if bake_left == 0 else None),
        },
        "effective_weights": {"external": effective_weights(state), "internal": effective_weights(state, internal=True),
                              "note": f"what every runtime serves within {ttl} s (its cache TTL)" if ttl else
                              "no registry parameter: runtimes serve their last good copy or the baseline"},
        "overrides": [
            {"variant": v, "share": o.share, "source": o.source, "actor": o.actor, "alarm": o.alarm,
             "reason": o.reason, "at": o.at.isoformat()} for v, o in sorted(state.overrides.items())
        ],
        "runbook_map": {"parameter": param_runbook(s.namespace), "active": dict(state.runbook),
                        "emergency_value": map_json(emergency_map(state.registry, s.phase))
                        if state.registry else None},
        "alarms": {name: state_value or "MISSING" for name, state_value in sorted(s.alarms.items())},
        "next": {"phase": s.next_phase, "decision": s.decision.to_dict() if s.decision else None, "note": s.note},
        "decommission": [step.to_dict() for step in s.decommission],
        "deprecated": sorted(state.deprecated),
        "problems": list(state.problems),
    }
