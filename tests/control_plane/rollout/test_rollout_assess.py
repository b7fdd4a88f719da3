"""assess_advance: the facts for one advance from policy, live state and an injected metric source (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from control_plane.rollout.assess import assess_advance
from control_plane.rollout.gates import Observation, Verdict, Window, compute_statistic, param_approval_of
from control_plane.rollout.guard import ReasonCode
from control_plane.rollout.machine import Step
from registry.compiled import compile_registry
from registry.errors import UsageError
from registry.live_state import ApprovalRecord, LiveState, PhaseRecord
from registry.loader import load_registry

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def test_phase2_exit_with_in_memory_p50_p95_and_an_approval(example_path: Path) -> None:
    policy = load_registry(example_path)
    state = LiveState(registry=compile_registry(policy), phase=PhaseRecord(phase="Phase2_Week2", at=T0))
    ttfa = [120.0 + (i % 50) for i in range(1000)] + [480.0] * 30  # p50 ~ 145, p95 ~ 168
    seen: list[tuple[str, Window]] = []

    def observe(ns: str, metric: str, dims: Mapping[str, str], stat: str, window: Window) -> Observation:
        seen.append((f"{ns}/{metric}/{stat}", window))
        values = ttfa if metric == "VoiceM2_TTFA_ms" else [0.0] * 500
        return Observation(compute_statistic(values, stat), len(values))

    approval = ApprovalRecord(phase="Phase2_Week2", approval="mirror_tone_quality", score=4.2, by="qa",
                              at=T0 + timedelta(days=13))
    values = {param_approval_of(policy.namespace, "Phase2_Week2", "mirror_tone_quality"): approval.model_dump_json()}
    now = T0 + timedelta(days=14, hours=1)
    decision = assess_advance(policy, state, values, Step("Phase2_Week2", "Phase3_Week4", None), T0, now, observe,
                              {"VoiceM2_P95_Breach": "OK"})
    assert decision.allowed, decision.reasons
    assert [g.verdict for g in decision.gates] == [Verdict.PASS] * 4
    assert seen[0] == ("SilentInfinity/Voice/VoiceM2_TTFA_ms/p50", Window(now - timedelta(days=14), now))
    assert decision.gates[1].value == 168.0


def test_a_slow_p95_and_missing_approval_are_both_reasons(example_path: Path) -> None:
    policy = load_registry(example_path)
    state = LiveState(registry=compile_registry(policy))

    def observe(ns: str, metric: str, dims: Mapping[str, str], stat: str, window: Window) -> Observation:
        return Observation(900.0 if stat == "p95" else 100.0 if metric == "VoiceM2_TTFA_ms" else 0.0, 100)

    decision = assess_advance(policy, state, {}, Step("Phase2_Week2", "Phase3_Week4", None), T0,
                              T0 + timedelta(days=15), observe, {})
    assert [r.code for r in decision.reasons] == [ReasonCode.GATE_FAILED, ReasonCode.GATE_INCONCLUSIVE]
    assert "p95 [Variant=sonic-unified] is 900, must be < 500" in decision.reasons[0].message


def test_unknown_current_phase_is_a_usage_error(example_path: Path) -> None:
    policy = load_registry(example_path)
    with pytest.raises(UsageError, match="not in the file"):
        assess_advance(policy, LiveState(), {}, Step("Nope", "Phase2_Week2", None), T0, T0,
                       lambda *a: Observation(None), {})


def test_the_gate_window_starts_again_after_a_clear(example_path: Path) -> None:
    from control_plane.overrides import AuditRecord, param_audit

    policy = load_registry(example_path)
    state = LiveState(registry=compile_registry(policy), phase=PhaseRecord(phase="Phase3_Week4", at=T0))
    cleared = T0 + timedelta(hours=10)
    values = {param_audit(policy.namespace): AuditRecord(action="override clear", target="sonic-unified",
                                                         actor="bob", at=cleared).model_dump_json()}
    windows: list[Window] = []

    def observe(ns: str, metric: str, dims: Mapping[str, str], stat: str, window: Window) -> Observation:
        windows.append(window)
        return Observation(1.0 if metric != "VoiceM2_SessionError" else 0.0, 10)

    now = T0 + timedelta(hours=50)
    decision = assess_advance(policy, state, values, Step("Phase3_Week4", "Phase3_Week5", None), T0, now, observe, {})
    assert windows[0] == Window(cleared, now)
    assert [r.code for r in decision.reasons] == [ReasonCode.BAKE]
    assert decision.bake_ends_at == cleared + timedelta(hours=48)
