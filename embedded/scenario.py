"""The demo scenario: a canary that regresses and is reverted by its alarm, on the embedded stack.

1. Synthetic callers (tens of concurrent WebSocket sessions, a few of them internal staff) talk to the runtime.
2. The release owner advances Phase1 -> Phase2 -> the 5 % canary through the rollout guard (bakes of seconds,
   gates on the runtime's own metrics, the Phase 2 quality sign-off recorded as `voicectl approve` would).
3. The canary serves healthily for a while, then a latency regression is injected into the Nova Sonic emulator.
4. The local evaluator puts VoiceM2_P95_Breach in ALARM, the revert handler writes sonic-unified's override, and
   every runtime moves new turns to the baseline at its next cache refresh.
The scenario records everything (embedded.report) and states what it expected as checks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from control_plane.aws.live_store import read_live_state
from control_plane.aws.session import Clients
from embedded.conversation import CallerSpec, TurnResult, converse
from embedded.report import Check, DemoRecord, Event, EventKind, alarm_to_baseline_s, alarm_to_runtime_s
from embedded.rollout import ReleaseOwner
from embedded.stack import EmbeddedStack
from registry.live_state import effective_weights
from registry.model import Backend

CANARY_PHASE = "Phase3_Week4"
WATCHED = "sonic-unified"
REVERT_ALARM = "VoiceM2_P95_Breach"
RTO_SECONDS = 60.0  # the memo: every runtime on the baseline within 60 s of the alarm


@dataclass(frozen=True)
class ScenarioConfig:
    external_callers: int = 60
    internal_callers: int = 6
    turns_per_caller: int = 2  # then the caller hangs up and a new subject calls: shares converge on the weights
    internal_turns_per_caller: int = 8  # staff hold longer conversations (a new Nova Sonic stream costs a handshake)
    utterance_s: float = 0.4
    canary_seconds: float = 15.0  # healthy canary before the regression
    regression_p50_ms: float = 1400.0
    regression_p95_ms: float = 2200.0
    after_revert_seconds: float = 8.0  # keep calling after the override to show the baseline serving everyone
    phase_timeout_seconds: float = 45.0
    alarm_timeout_seconds: float = 75.0
    approval_score: float = 4.4


Progress = Callable[[Event], None]


@dataclass
class Traffic:
    """Keeps N external and K internal callers talking; each caller makes a few turns, then a new one calls."""

    url: str
    config: ScenarioConfig
    origin: float
    on_turn: Callable[[TurnResult], None]
    timeline: Callable[[], float]
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        n_ext, n_int = self.config.external_callers, self.config.internal_callers
        for i in range(n_ext + n_int):
            self.tasks.append(loop.create_task(self._worker(i, internal=i >= n_ext, total=n_ext + n_int)))

    async def _worker(self, i: int, *, internal: bool, total: int) -> None:
        await asyncio.sleep(1.5 * i / total)  # spread the first calls
        generation = 0
        while not self.stop.is_set():
            generation += 1
            subject = f"{'staff' if internal else 'caller'}-{i:03d}-{generation:04d}"
            turns = self.config.internal_turns_per_caller if internal else self.config.turns_per_caller
            spec = CallerSpec(subject=subject, turns=turns, internal=internal, utterance_s=self.config.utterance_s)
            # TTFA on the real clock; each turn stamped on the rollout's timeline (virtual when the stack runs fast)
            await converse(self.url, spec, timeline=self.timeline, origin=self.origin, on_turn=self.on_turn,
                           should_stop=self.stop.is_set)

    async def close(self) -> None:
        self.stop.set()
        await asyncio.gather(*self.tasks, return_exceptions=True)


class DemoScenario:
    """Runs the scenario on a started stack; `record` holds what happened, `snapshot()` the live view."""

    def __init__(self, stack: EmbeddedStack, config: ScenarioConfig | None = None,
                 progress: Progress | None = None) -> None:
        assert stack.info is not None and stack.clients is not None, "start the stack first"
        self.stack = stack
        self.config = config or ScenarioConfig()
        self.progress = progress
        self.clock = stack.clock  # bakes, alarm periods and the waits below are on the stack's timeline
        self.origin = self.clock.time()
        reg = stack.registry
        self.record = DemoRecord(baseline=reg.baseline, watched=WATCHED, alarm=REVERT_ALARM,
                                 meta={"registry": str(stack.config.registry_file), "namespace": reg.namespace,
                                       "cache_ttl_seconds": reg.cache_ttl_seconds, "clock_speed": stack.clock.speed,
                                       **stack.info.as_dict()})
        self.clients = Clients(endpoint_url=stack.info.aws_endpoint_url, region=stack.config.region)
        self.owner = ReleaseOwner(reg, self.clients.ssm, self.clients.cloudwatch, stack.gate_samples,
                                  clock=self.clock.now)
        self.phase = "-"
        self._seen_outcomes = 0

    # --- recording ---------------------------------------------------------------------------------------------

    def now(self) -> float:
        return round(self.clock.time() - self.origin, 3)

    def event(self, kind: EventKind, title: str, at: float | None = None, **detail: Any) -> Event:
        e = Event(self.now() if at is None else at, kind, title, detail)
        self.record.events.append(e)
        if self.progress is not None:
            self.progress(e)
        return e

    def check(self, name: str, ok: bool, detail: str) -> bool:
        self.record.checks.append(Check(name, ok, detail))
        return ok

    def _on_turn(self, result: TurnResult) -> None:
        self.record.turns.append(result)

    def _collect_alarms(self) -> None:
        """Turn the alarm runner's transitions (and the revert handler's results) into timeline events."""
        outcomes = self.stack.alarm_outcomes
        while self._seen_outcomes < len(outcomes):
            _, outcome = outcomes[self._seen_outcomes]
            self._seen_outcomes += 1
            t = outcome.transition
            at = round(t.at - self.origin, 3)
            self.event("alarm", f"{t.state.value} {t.alarm.name}", at=max(0.0, at), reason=t.current.reason,
                       previous=t.previous.state.value)
            result = outcome.handler_result or {}
            for item in result.get("results", []):
                for written in item.get("overrides_written", []):
                    self.event("override", f"{written.get('variant')} -> {written.get('share')}% "
                               f"(revert handler, {item.get('status')})", at=self.now(), alarm=t.alarm.name,
                               **{k: str(v) for k, v in written.items()})

    # --- the scenario ------------------------------------------------------------------------------------------

    async def _advance_to(self, target: str) -> bool:
        """Advance through the guard until `target` is active; approvals are recorded on entering a phase."""
        deadline = self.clock.time() + self.config.phase_timeout_seconds * 3
        refusals: dict[str, str] = {}
        while self.clock.time() < deadline:
            self._collect_alarms()
            outcome = await asyncio.to_thread(self.owner.try_advance, "demo: gates hold over the bake window")
            if outcome.record is None:
                refusals[outcome.step.current] = "; ".join(r.message for r in outcome.decision.reasons)
                await self.clock.sleep(1.0)
                continue
            new = outcome.record.phase
            policy = self.stack.registry.phase(new)
            self.phase = new
            if outcome.decision.gates:
                self.event("gate", f"{outcome.step.current} gates hold: "
                           + "; ".join(g.reason for g in outcome.decision.gates))
            self.event("phase", new, phase=new, weights=dict(policy.weights) if policy else {},
                       internal_weights=dict(policy.internal_weights or {}) if policy else {},
                       gates=[g.to_dict() for g in outcome.decision.gates])
            if policy and any(getattr(g, "approval", None) for g in policy.gates):
                await asyncio.to_thread(self.owner.approve, new, self.config.approval_score, "internal-panel",
                                        "5 staff rated mirror-tone accuracy")
                self.event("gate", f"approval recorded for {new}: {self.config.approval_score:g}/5 by internal-panel")
            if new == target:
                return True
        self.event("note", f"gave up advancing to {target}: {refusals}")
        return False

    async def run(self) -> DemoRecord:
        """Run the whole scenario; the record's checks say whether it behaved."""
        cfg, reg = self.config, self.stack.registry
        assert self.stack.info is not None
        self.event("stack", f"embedded stack up: AWS {self.stack.info.aws_endpoint_url}, "
                            f"runtime {self.stack.info.runtime_ws_url}")
        self.event("apply", f"applied {reg.namespace}: {len(self.stack.applied)} AWS write(s)",
                   writes=list(self.stack.applied))
        self.check("registry applied", bool(self.stack.applied), f"{len(self.stack.applied)} write calls to moto")
        first = await asyncio.to_thread(self.owner.start, "demo: the rollout starts")
        self.phase = first.phase
        policy = reg.phase(first.phase)
        self.event("phase", first.phase, phase=first.phase, weights=dict(policy.weights) if policy else {},
                   internal_weights=dict(policy.internal_weights or {}) if policy else {})
        traffic = Traffic(self.stack.info.runtime_ws_url, cfg, self.origin, self._on_turn, self.clock.time)
        traffic.start()
        try:
            await self._scenario(traffic)
        finally:
            await traffic.close()
            self._collect_alarms()
        self._final_checks()
        return self.record

    async def _scenario(self, traffic: Traffic) -> None:
        cfg = self.config
        reached = await self._advance_to(CANARY_PHASE)
        self.check("advanced to the 5% canary through the guard", reached,
                   f"active phase {self.phase}" + ("" if reached else f" (wanted {CANARY_PHASE})"))
        if not reached:
            return
        await self._wait(cfg.canary_seconds)
        self.stack.set_latency(Backend.NOVA_SONIC, cfg.regression_p50_ms, cfg.regression_p95_ms)
        self.event("inject", f"Nova Sonic emulator latency -> p50 {cfg.regression_p50_ms:g} ms, "
                             f"p95 {cfg.regression_p95_ms:g} ms")
        deadline = self.clock.time() + cfg.alarm_timeout_seconds
        while self.clock.time() < deadline and self.record.first("override") is None:
            await self._wait(0.5)
        if self.record.first("override") is None:
            return
        await self._wait(self.stack.registry.cache_ttl_seconds + cfg.after_revert_seconds)

    async def _wait(self, seconds: float) -> None:
        end = self.clock.time() + seconds
        while self.clock.time() < end:
            self._collect_alarms()
            self._watch_runtime()
            await self.clock.sleep(min(0.25, max(0.0, end - self.clock.time())))

    def _watch_runtime(self) -> None:
        """Note when the runtime's own cached live state first holds the revert (its next refresh after the
        override was written): from then on every new turn resolves to the baseline."""
        if self.record.first("override") is None or self.record.first("runtime") is not None:
            return
        state = self.stack.server.registry.state
        if state is not None and WATCHED in state.overrides:
            self.event("runtime", f"the runtime's cache now holds overrides/{WATCHED}: every new turn resolves "
                                  "to the baseline")

    def _final_checks(self) -> None:
        rec, reg = self.record, self.stack.registry
        canary = rec.first("phase", CANARY_PHASE)
        inject = rec.first("inject")
        alarm = rec.first("alarm", f"ALARM {REVERT_ALARM}")
        override = rec.first("override")
        if canary and inject:
            window = [t for t in rec.turns if canary.at_s + reg.cache_ttl_seconds <= t.at_s < inject.at_s
                      and not t.internal and t.variant]
            share = 100 * sum(t.variant == WATCHED for t in window) / max(1, len(window))
            self.check("the canary served its share", 0 < share <= 20,
                       f"{WATCHED} served {share:.1f}% of {len(window)} external turns (weight 5%)")
            early = [e for e in rec.events if e.kind == "alarm" and e.title == f"ALARM {REVERT_ALARM}"
                     and e.at_s < inject.at_s]
            self.check("no alarm while the canary was healthy", not early, f"{len(early)} ALARM transition(s)")
        self.check(f"{REVERT_ALARM} fired after the regression", alarm is not None and inject is not None
                   and alarm.at_s > inject.at_s,
                   f"ALARM at {alarm.at_s:.1f}s" if alarm else "the alarm never fired")
        state = read_live_state(self.clients.ssm, reg.namespace)
        written = state.overrides.get(WATCHED)
        self.check("the revert handler wrote the override", written is not None and written.share == 0
                   and written.source == "alarm",
                   f"overrides/{WATCHED} = {written.share}% by {written.source} {written.alarm}" if written
                   else "no override")
        weights = effective_weights(state)
        self.check("effective weights are 100% baseline", weights.get(reg.baseline) == 100.0, f"{weights}")
        if override is not None:
            settle = override.at_s + 2 * reg.cache_ttl_seconds
            after = [t for t in rec.turns if t.at_s >= settle and not t.internal and t.variant]
            stray = [t for t in after if t.variant != reg.baseline]
            self.check("every new external turn on the baseline after one cache period",
                       bool(after) and not stray, f"{len(after)} turns after {settle:.1f}s, {len(stray)} not baseline")
        # The runtime's cache holding the override is the guarantee; the turn-based figure is what was observed.
        rto = alarm_to_runtime_s(rec)
        seen = alarm_to_baseline_s(rec)
        self.check("alarm -> 100% baseline within the memo's RTO", rto is not None and rto < RTO_SECONDS,
                   f"runtime cache after {rto:.1f}s, last canary turn seen {seen:.1f}s after the alarm "
                   f"(RTO {RTO_SECONDS:g}s)" if rto is not None and seen is not None else "not observed")
        errors = [t for t in rec.turns if not t.ok]
        self.check("no failed turns", len(errors) <= len(rec.turns) // 100,
                   f"{len(errors)} failed of {len(rec.turns)} turns")

    # --- live view -------------------------------------------------------------------------------------------

    def snapshot(self, window_s: float = 5.0) -> dict[str, Any]:
        """What the live progress shows: phase, turns, recent share and TTFA per variant, alarm states."""
        now = self.now()
        recent = [t for t in self.record.turns if t.at_s >= now - window_s and t.variant and not t.internal]
        per: dict[str, list[float]] = {}
        for t in recent:
            per.setdefault(t.variant or "-", []).append(t.client_ttfa_ms or 0.0)
        variants = {v: {"share": 100 * len(vals) / max(1, len(recent)),
                        "p50": sorted(vals)[len(vals) // 2],
                        "p95": sorted(vals)[min(len(vals) - 1, int(0.95 * len(vals)))]}
                    for v, vals in sorted(per.items())}
        alarms = {name: self.stack.alarm_state(name) for name in sorted(self.stack.registry.alarms)}
        return {"t": now, "phase": self.phase, "turns": len(self.record.turns),
                "errors": sum(not t.ok for t in self.record.turns), "variants": variants, "alarms": alarms}
