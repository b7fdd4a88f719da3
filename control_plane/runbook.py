"""The on-call runbook (pure): the memo's emergency map, what a runtime resolves now, and the runbook text
filled with live values and the exact commands to type.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from registry.assignment import AssignmentTable, Subject
from registry.compiled import CompiledRegistry
from registry.live_state import LiveState, effective_weights, param_runbook


def emergency_map(compiled: CompiledRegistry, phase: str) -> dict[str, int]:
    """The memo's `{"sonic-unified": 0, "transcribe-polly-baseline": 100}`: every non-baseline variant the
    phase gives traffic (external or internal) to 0, the baseline to 100. An emergency must never be refused:
    for a phase the applied registry does not know, every non-baseline variant is pinned to 0."""
    active = compiled.phase(phase)
    if active is None:
        traffic = set(compiled.variants)
    else:
        traffic = {v for v, w in active.weights.items() if w} | {
            v for v, w in (active.internal_weights or {}).items() if w}
    pins = {v: 0 for v in sorted(traffic) if v != compiled.baseline}
    pins[compiled.baseline] = 100
    return pins


def map_json(pins: Mapping[str, int]) -> str:
    """The map exactly as the memo writes it: `{"sonic-unified": 0, "transcribe-polly-baseline": 100}`."""
    return json.dumps(dict(pins))


def guaranteed_at(written_at: datetime, cache_ttl_seconds: int) -> datetime:
    """Every runtime that can reach SSM serves a write within one cache period of it."""
    return written_at + timedelta(seconds=cache_ttl_seconds)


@dataclass(frozen=True)
class Verification:
    external: dict[str, float]
    internal: dict[str, float]
    checks: list[tuple[bool, str]] = field(default_factory=list)
    sampled: dict[str, dict[str, float]] = field(default_factory=dict)  # audience -> variant -> % of subjects

    @property
    def ok(self) -> bool:
        return all(ok for ok, _ in self.checks)

    def to_dict(self) -> dict[str, object]:
        return {"ok": self.ok, "external": self.external, "internal": self.internal, "sampled": self.sampled,
                "checks": [{"ok": ok, "check": text} for ok, text in self.checks]}


def sample_assignment(state: LiveState, subjects: int, *, internal: bool) -> dict[str, float]:
    """Percent of `subjects` synthetic callers each variant serves, through the runtime's own assignment
    (eligibility included: internal-only, deprecated, SDK versions). Deterministic: subjects are numbered."""
    if subjects <= 0:
        return {}
    fallback = state.registry.baseline if state.registry else "baseline"
    table = AssignmentTable.from_state(state, fallback_baseline=fallback)
    counts: dict[str, int] = {}
    for i in range(subjects):
        variant = table.assign(Subject(f"verify-{i}", internal))
        counts[variant] = counts.get(variant, 0) + 1
    return {v: round(100 * n / subjects, 2) for v, n in sorted(counts.items())}


def resolve_subject(state: LiveState, subject: str, *, internal: bool) -> str:
    """The variant a runtime serves `subject` on its next turn, from this state."""
    fallback = state.registry.baseline if state.registry else "baseline"
    return AssignmentTable.from_state(state, fallback_baseline=fallback).assign(Subject(subject, internal))


def verify(state: LiveState, *, subjects: int = 0) -> Verification:
    """What a runtime resolves from this state now, and whether every pin (override or map) is honoured; with
    `subjects`, also through the runtime's assignment for that many synthetic callers per audience."""
    external, internal = effective_weights(state), effective_weights(state, internal=True)
    sampled = {"external": sample_assignment(state, subjects, internal=False),
               "internal": sample_assignment(state, subjects, internal=True)} if subjects else {}
    checks: list[tuple[bool, str]] = []
    if state.registry is None:
        checks.append((False, "no registry parameter: runtimes serve their last good copy, or the baseline"))
    for problem in state.problems:
        checks.append((False, f"does not parse, so runtimes read it the safe way: {problem}"))
    reg = state.registry
    if reg is not None and (reg.baseline in state.deprecated or (
            reg.baseline in reg.variants and reg.variants[reg.baseline].deprecated)):
        checks.append((False, f"the baseline {reg.baseline} is deprecated: a revert has no safe variant to send "
                              "traffic to (set baseline: to the production variant and apply)"))
    pins = ({v: o.share for v, o in state.overrides.items()} | dict.fromkeys(state.unreadable_overrides, 0)
            | dict(state.runbook))
    for variant, share in sorted(pins.items()):
        if state.registry is not None and variant not in state.registry.variants:
            checks.append((False, f"{variant} is pinned but is not a variant of the applied registry"))
            continue
        if share == 0:
            served = max(external.get(variant, 0.0), internal.get(variant, 0.0))
            checks.append((served == 0, f"{variant} pinned to 0%: runtimes serve it {served:g}%"))
            if sampled:
                hit = max(sampled["external"].get(variant, 0.0), sampled["internal"].get(variant, 0.0))
                checks.append((hit == 0, f"{variant}: {hit:g}% of {subjects} sampled callers per audience"))
        else:
            checks.append((True, f"{variant} pinned to {share}%: runtimes serve it {external.get(variant, 0):g}%"))
    return Verification(external, internal, checks, sampled)


@dataclass(frozen=True)
class RunbookContext:
    namespace: str
    state: LiveState
    phase: str
    since: datetime | None
    alarms: Mapping[str, str | None]
    previous: str | None
    now: datetime


def _weights(weights: Mapping[str, float]) -> str:
    return ", ".join(f"{v} {w:g}%" for v, w in sorted(weights.items()) if w) or "nothing"


def render_runbook(ctx: RunbookContext) -> str:
    """The on-call runbook as plain text: what is live, what reverted, and the exact commands to type."""
    ns, state = ctx.namespace, ctx.state
    q = shlex.quote
    ttl = state.registry.cache_ttl_seconds if state.registry else 30
    lines = [f"ON-CALL RUNBOOK for {ns} (at {ctx.now.isoformat()})", ""]
    lines += ["1. WHAT IS LIVE", f"   phase: {ctx.phase}" + (f" since {ctx.since.isoformat()}" if ctx.since else
                                                              " (never advanced: the first phase)")]
    if state.registry is not None:
        lines.append(f"   runtimes serve (external): {_weights(effective_weights(state))}")
        lines.append(f"   runtimes serve (internal): {_weights(effective_weights(state, internal=True))}")
    else:
        lines.append("   NO REGISTRY PARAMETER: runtimes serve their last good copy or the baseline")
    firing = sorted(n for n, s in ctx.alarms.items() if s == "ALARM")
    missing = sorted(n for n, s in ctx.alarms.items() if s is None)
    lines.append(f"   alarms in ALARM: {', '.join(firing) or 'none'}")
    if missing:
        lines.append(f"   alarms MISSING (nothing reverts on them): {', '.join(missing)}")
    for name in firing:
        spec = state.registry.alarms.get(name) if state.registry else None
        unreverted = [v for v in (spec.revert if spec else []) if v not in state.overrides and v not in state.runbook]
        if unreverted:
            lines.append(f"   !! {name} is in ALARM and should have reverted {', '.join(unreverted)}, but no "
                         "override is set: the revert handler may not have run. Revert by hand:")
            lines += [f"        voicectl override set {q(v)}=0 --namespace {q(ns)} --reason {q(name + ' fired')}"
                      for v in unreverted]
    lines += ["", "2. WHAT REVERTED"]
    if not state.overrides and not state.runbook:
        lines.append("   nothing: no override and no runbook map is active")
    for variant, o in sorted(state.overrides.items()):
        who = f"alarm {o.alarm}" if o.source == "alarm" else f"{o.actor} (by hand)"
        lines.append(f"   {variant} forced to {o.share}% by {who} at {o.at.isoformat()}: {o.reason or '-'}")
    if state.runbook:
        lines.append(f"   runbook map variant_overrides: {map_json(state.runbook)}")
    for problem in state.problems:
        lines.append(f"   DOES NOT PARSE (runtimes read it the safe way): {problem}")
    lines += ["", "3. WHAT TO TYPE"]
    pins = emergency_map(state.registry, ctx.phase) if state.registry else {}
    lines += ["   Quality degraded but no alarm fired? Send everyone to the baseline now:",
              f"     voicectl runbook emergency-revert --namespace {q(ns)} --reason 'what you saw'",
              "   or, without voicectl (the memo's command, same effect):",
              f"     aws ssm put-parameter --name {q(param_runbook(ns))} --type String \\",
              f"       --value {q(map_json(pins or {'<variant>': 0}))} --overwrite",
              f"   Every runtime serves it within {ttl} s of the write (cache TTL). Then check:",
              f"     voicectl runbook verify --namespace {q(ns)}"]
    if ctx.previous:
        lines += ["   Roll the phase back (weights of the previous phase):",
                  f"     voicectl rollback --namespace {q(ns)} --reason 'why'   # -> {ctx.previous}"]
    for variant in sorted(state.overrides):
        lines += [f"   After the fix, give {variant} its traffic back:",
                  f"     voicectl override clear {q(variant)} --namespace {q(ns)} --reason 'fixed by ...'"]
    if state.runbook:
        lines += ["   After the emergency, remove the runbook map:",
                  f"     voicectl runbook clear --namespace {q(ns)} --reason 'why'"]
    lines += ["   What happened, in order:", f"     voicectl history --namespace {q(ns)}",
              f"     voicectl status --namespace {q(ns)}"]
    return "\n".join(lines) + "\n"
