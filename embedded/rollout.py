"""The demo's release owner: `voicectl advance` and `voicectl approve` done in-process against the local endpoint.

The decision is the rollout guard's (control_plane.rollout.guard.decide) over the same facts `voicectl advance`
gathers: bake, every gate over the bake window, approvals, alarm states, overrides and the runbook map. Only the
metric source differs: moto computes no percentiles, so gates read the runtime's raw samples (a
SampleMetricSource fed by the metrics sink), which is what CloudWatch would aggregate in AWS.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from control_plane.aws import live_store
from control_plane.aws.metrics_source import MetricQuery, MetricSource, alarm_states
from control_plane.rollout.assess import assess_advance
from control_plane.rollout.gates import Observation, Window, param_approval_of
from control_plane.rollout.guard import Decision
from control_plane.rollout.machine import Step, Topology, active_phase, advance_step
from registry.errors import NothingApplied
from registry.live_state import ApprovalRecord, PhaseRecord, live_state_from_parameters, param_phase
from registry.model import ApprovalGate, Registry

ACTOR = "voicectl-demo"


@dataclass(frozen=True)
class AdvanceOutcome:
    """One advance attempt: where it would go, the guard's decision, and the phase record written if allowed."""

    step: Step
    decision: Decision
    record: PhaseRecord | None


@dataclass
class ReleaseOwner:
    """Advances one registry's rollout through the guard, with an injected clock and metric source."""

    registry: Registry
    ssm: Any
    cloudwatch: Any
    metrics: MetricSource
    clock: Callable[[], datetime]

    @property
    def namespace(self) -> str:
        return self.registry.namespace

    def active(self) -> tuple[str, PhaseRecord | None]:
        state = live_store.read_live_state(self.ssm, self.namespace)
        return active_phase(Topology.of_registry(self.registry), state.phase), state.phase

    def start(self, reason: str) -> PhaseRecord:
        """Record the first phase as active now (what the first `voicectl advance` does: action 'init')."""
        first = Topology.of_registry(self.registry).main[0]
        record = PhaseRecord(phase=first, action="init", actor=ACTOR, reason=reason, at=self.clock())
        live_store.put_record(self.ssm, param_phase(self.namespace), record, description=f"init {first}")
        return record

    def approve(self, phase: str, score: float, by: str, note: str = "") -> list[ApprovalRecord]:
        """Sign off every approval gate of `phase` with `score` (what `voicectl approve` writes)."""
        policy = self.registry.phase(phase)
        records = []
        for gate in policy.gates if policy else []:
            if isinstance(gate, ApprovalGate):
                record = ApprovalRecord(phase=phase, approval=gate.approval, score=score, by=by, at=self.clock(),
                                        note=note)
                live_store.put_record(self.ssm, param_approval_of(self.namespace, phase, gate.approval), record,
                                      description=f"{gate.approval} of {phase}: {score:g} by {by}")
                records.append(record)
        return records

    def judge(self) -> tuple[Step, Decision, PhaseRecord]:
        """The guard's decision on advancing from the active phase now (reads SSM and CloudWatch once)."""
        now = self.clock()
        values = live_store.read_namespace(self.ssm, self.namespace)
        state = live_state_from_parameters(self.namespace, values)
        if state.registry is None:
            raise NothingApplied(self.namespace)
        record = state.phase or self.start("first advance: the rollout starts at the first phase")
        topology = Topology.of_registry(self.registry)
        step = advance_step(topology, active_phase(topology, record))
        compiled = state.registry
        alarms = alarm_states(self.cloudwatch, sorted(compiled.alarms)) if compiled.alarms else {}

        def observe(namespace: str, metric: str, dimensions: Mapping[str, str], statistic: str,
                    window: Window) -> Observation:
            return self.metrics.observe(MetricQuery(namespace, metric, dimensions, statistic, window))

        # The same fact gathering as `voicectl advance`: one guard, whoever advances.
        decision = assess_advance(self.registry, state, values, step, record.at, now, observe, alarms)
        return step, decision, record

    def try_advance(self, reason: str) -> AdvanceOutcome:
        """Advance one phase if the guard allows it; never forces."""
        step, decision, _ = self.judge()
        if not decision.allowed:
            return AdvanceOutcome(step, decision, None)
        new = PhaseRecord(phase=step.target, path=step.path, action="advance", actor=ACTOR, at=self.clock(),
                          previous=step.current, reason=reason)
        live_store.put_record(self.ssm, param_phase(self.namespace), new,
                              description=f"advance to {new.phase} by {ACTOR}: {reason}")
        return AdvanceOutcome(step, decision, new)
