"""Assemble the guard's facts for one advance from the policy (the file), the live state and observations.

The metric source and the alarm states are passed in (STYLE.md 2), so this stays a function of its inputs:
`voicectl advance` / `status` pass CloudWatch (or samples), the embedded stack passes its local source.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime

from control_plane.overrides import AuditRecord, param_audit
from control_plane.rollout.gates import (
    GateResult,
    Observation,
    Window,
    approval_records,
    gate_window,
    judge_approval,
    judge_metric,
)
from control_plane.rollout.guard import Decision, Facts, decide
from control_plane.rollout.machine import Step
from registry.compiled import compile_registry
from registry.errors import StepProblem, StepRefused
from registry.live_state import LiveState
from registry.model import ApprovalGate, MetricGate, Registry

# (metrics namespace, metric, dimensions, statistic, window) -> what the source saw
Observe = Callable[[str, str, Mapping[str, str], str, Window], Observation]


def bake_restart(namespace: str, values: Mapping[str, str]) -> tuple[datetime | None, str]:
    """When the last override or runbook-map clear happened (from `rollout/audit`), and by whom: traffic came
    back to a reverted variant then, so its bake starts again."""
    raw = values.get(param_audit(namespace))
    if raw is None:
        return None, ""
    try:
        record = AuditRecord.model_validate_json(raw)
    except ValueError:
        return None, ""
    return record.at, f"{record.action} of {record.target} by {record.actor}"


def assess_advance(policy: Registry, state: LiveState, values: Mapping[str, str], step: Step, entered_at: datetime,
                   now: datetime, observe: Observe, alarms: Mapping[str, str | None]) -> Decision:
    """The guard's decision on `step`: every gate of the current phase judged over its bake window (which
    restarts when a revert is cleared), approvals recorded since `entered_at`, alarms, overrides, the runbook
    map, and whether `policy` is what is applied."""
    phase = policy.phase(step.current)
    if phase is None:
        raise StepRefused(StepProblem.ACTIVE_NOT_IN_FILE, f"the active phase {step.current} is not in the file",
                          current=step.current)
    restarted_at, cause = bake_restart(policy.namespace, values)
    bake_from = restarted_at if restarted_at is not None and restarted_at > entered_at else entered_at
    window = gate_window(bake_from, phase.bake_seconds, now)
    approvals = approval_records(policy.namespace, values)
    results: list[GateResult] = []
    for gate in phase.gates:
        if isinstance(gate, MetricGate):
            observed = observe(policy.metric_namespace_of(gate.namespace), gate.metric, gate.dimensions,
                               gate.statistic, window)
            results.append(judge_metric(gate, observed))
        elif isinstance(gate, ApprovalGate):
            results.append(judge_approval(gate, approvals.get((step.current, gate.approval)), entered_at))
    applied = state.registry
    return decide(Facts(step=step, now=now, entered_at=entered_at, bake_seconds=phase.bake_seconds, gates=results,
                        alarms=alarms, overrides=state.overrides, runbook=state.runbook,
                        applied_digest=applied.digest if applied else None,
                        file_digest=compile_registry(policy).digest, problems=state.problems,
                        bake_restarted_at=restarted_at, bake_restart_cause=cause))
