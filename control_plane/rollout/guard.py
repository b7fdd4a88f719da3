"""May the rollout advance? A pure decision over observed facts, listing EVERY condition that fails, each with
a named reason, the next step and when it could pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from control_plane.rollout.gates import GateResult, Verdict
from control_plane.rollout.machine import Step
from registry.durations import format_duration
from registry.live_state import OverrideRecord


class ReasonCode(StrEnum):
    BAKE = "bake_remaining"
    GATE_FAILED = "gate_failed"
    GATE_INCONCLUSIVE = "gate_inconclusive"
    ALARM = "alarm_in_alarm"
    ALARM_MISSING = "alarm_missing"
    OVERRIDE = "override_active"
    RUNBOOK_MAP = "runbook_map_active"
    SKIPS_PHASES = "skips_phases"
    DRIFT = "file_differs_from_applied"
    LIVE_STATE = "live_state_malformed"


@dataclass(frozen=True)
class Reason:
    code: ReasonCode
    message: str
    when: str  # when it could pass, for people
    hint: str = ""
    could_pass_at: datetime | None = None

    def to_dict(self) -> dict[str, object]:
        return {"code": self.code.value, "message": self.message, "when": self.when, "hint": self.hint,
                "could_pass_at": self.could_pass_at.isoformat() if self.could_pass_at else None}


@dataclass(frozen=True)
class Facts:
    """Everything the guard looks at, already fetched."""

    step: Step
    now: datetime
    entered_at: datetime
    bake_seconds: int
    gates: Sequence[GateResult] = ()
    alarms: Mapping[str, str | None] = field(default_factory=dict)  # name -> StateValue, None when missing
    overrides: Mapping[str, OverrideRecord] = field(default_factory=dict)
    runbook: Mapping[str, int] = field(default_factory=dict)
    applied_digest: str | None = None
    file_digest: str | None = None
    problems: Sequence[str] = ()
    # The bake restarts when a revert is cleared in the phase: the window must see the variant at its weight.
    bake_restarted_at: datetime | None = None
    bake_restart_cause: str = ""

    @property
    def bake_from(self) -> datetime:
        restarted = self.bake_restarted_at
        return restarted if restarted is not None and restarted > self.entered_at else self.entered_at


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reasons: tuple[Reason, ...]
    bake_ends_at: datetime
    gates: tuple[GateResult, ...]

    @property
    def earliest(self) -> datetime | None:
        """When the advance could pass if nothing but time stands in the way; None if a person must act."""
        if any(r.could_pass_at is None for r in self.reasons):
            return None
        return max((r.could_pass_at for r in self.reasons if r.could_pass_at), default=None)

    def to_dict(self) -> dict[str, object]:
        return {"allowed": self.allowed, "reasons": [r.to_dict() for r in self.reasons],
                "bake_ends_at": self.bake_ends_at.isoformat(), "gates": [g.to_dict() for g in self.gates],
                "earliest": self.earliest.isoformat() if self.earliest else None}


def decide(facts: Facts) -> Decision:
    """Allow the advance only when the bake has elapsed, every gate passes, no alarm is in ALARM (and every alarm
    exists), no override or runbook map is active, the applied registry is the file's, and no phase is skipped."""
    reasons: list[Reason] = []
    current, target = facts.step.current, facts.step.target
    bake_end = facts.bake_from + timedelta(seconds=facts.bake_seconds)
    if facts.now < bake_end:
        left = format_duration((bake_end - facts.now).total_seconds())
        since = (f"restarted {facts.bake_from.isoformat()} by {facts.bake_restart_cause}"
                 if facts.bake_from != facts.entered_at else f"active since {facts.entered_at.isoformat()}")
        reasons.append(Reason(ReasonCode.BAKE, f"{current} must bake {format_duration(facts.bake_seconds)} "
                              f"({since}); {left} remain",
                              f"at {bake_end.isoformat()}", "wait for the bake to end", bake_end))
    gate_when = f"when it holds over the bake window (from {bake_end.isoformat()} at the earliest)"
    # A path is taken at its decision gate precisely because the phase's own gates (the main path's exit
    # criteria, e.g. Nova Sonic's p50) did not hold: they are shown, but they do not block the branch.
    for gate in () if facts.step.branch else facts.gates:
        if gate.verdict is Verdict.FAIL:
            hint = "record a new sign-off: voicectl approve" if gate.kind == "approval" else \
                "fix the regression, or roll back: voicectl rollback"
            reasons.append(Reason(ReasonCode.GATE_FAILED, gate.reason, gate_when, hint))
        elif gate.verdict is Verdict.INCONCLUSIVE:
            hint = (f"record it: voicectl approve {current} --score N --by NAME" if gate.kind == "approval"
                    else "check that the runtime emits this metric for this variant")
            reasons.append(Reason(ReasonCode.GATE_INCONCLUSIVE, gate.reason, "when there is data and it holds", hint))
    for name, state in sorted(facts.alarms.items()):
        if state is None:
            reasons.append(Reason(ReasonCode.ALARM_MISSING, f"alarm {name} does not exist, so nothing would revert "
                                  "a bad variant", "once it is created", "run: voicectl apply FILE"))
        elif state == "ALARM":
            reasons.append(Reason(ReasonCode.ALARM, f"alarm {name} is in ALARM", "when it returns to OK",
                                  "investigate the alarm; voicectl status shows what it reverted"))
    for variant, record in sorted(facts.overrides.items()):
        who = f"alarm {record.alarm}" if record.source == "alarm" and record.alarm else record.actor
        reasons.append(Reason(ReasonCode.OVERRIDE, f"override active: {variant} forced to {record.share}% by {who} "
                              f"at {record.at.isoformat()} ({record.reason or 'no reason given'})",
                              "once cleared", f"after investigating, run: voicectl override clear {variant}"))
    if facts.runbook:
        pins = ", ".join(f"{v}={s}" for v, s in sorted(facts.runbook.items()))
        reasons.append(Reason(ReasonCode.RUNBOOK_MAP, f"the runbook map variant_overrides is active ({pins})",
                              "once cleared", "after the emergency, run: voicectl runbook clear --reason ..."))
    if facts.step.skipped:
        reasons.append(Reason(ReasonCode.SKIPS_PHASES, f"--to {target} skips {', '.join(facts.step.skipped)}, whose "
                              "gates were never checked", "never (advance one phase at a time)",
                              f"run voicectl advance without --to, or --force --reason to jump to {target}"))
    if facts.file_digest and facts.applied_digest != facts.file_digest:
        reasons.append(Reason(ReasonCode.DRIFT, f"the file's registry (digest {facts.file_digest}) is not the applied "
                              f"one ({facts.applied_digest or 'none'}): gates would be judged against a different "
                              "rollout than runtimes serve", "after apply", "run: voicectl apply FILE"))
    for problem in facts.problems:
        reasons.append(Reason(ReasonCode.LIVE_STATE, "a live parameter does not parse (runtimes read it the safe "
                              f"way): {problem}", "once fixed", "rewrite or delete that parameter"))
    return Decision(allowed=not reasons, reasons=tuple(reasons), bake_ends_at=bake_end, gates=tuple(facts.gates))
