"""Runbook: the memo's emergency map, verification of pins, the rendered text (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from control_plane.runbook import (
    RunbookContext,
    emergency_map,
    guaranteed_at,
    map_json,
    render_runbook,
    resolve_subject,
    verify,
)
from registry.compiled import CompiledRegistry, compile_registry
from registry.live_state import LiveState, OverrideRecord, PhaseRecord
from registry.loader import load_registry

T0 = datetime(2026, 5, 1, tzinfo=UTC)
NS = "/silentinfinity/voice"


@pytest.fixture
def compiled(example_path: Path) -> CompiledRegistry:
    return compile_registry(load_registry(example_path))


@pytest.mark.parametrize(("phase", "expected"), [
    pytest.param("Phase3_Week4", '{"sonic-unified": 0, "transcribe-polly-baseline": 100}', id="memo-exact"),
    pytest.param("Phase1_Week1", '{"ws-echo": 0, "transcribe-polly-baseline": 100}', id="internal-echo"),
    pytest.param("PathB_CSM_Internal", '{"sesame-csm1b": 0, "transcribe-polly-baseline": 100}', id="path-b"),
])
def test_emergency_map_is_the_memos_form(compiled: CompiledRegistry, phase: str, expected: str) -> None:
    assert map_json(emergency_map(compiled, phase)) == expected


def test_guaranteed_at_is_write_time_plus_ttl() -> None:
    assert guaranteed_at(T0, 30) == T0 + timedelta(seconds=30)


def test_verify_checks_every_pin(compiled: CompiledRegistry) -> None:
    phase = PhaseRecord(phase="Phase3_Week5", at=T0)
    state = LiveState(registry=compiled, phase=phase, runbook={"sonic-unified": 0, "transcribe-polly-baseline": 100})
    result = verify(state)
    assert result.ok and result.external["sonic-unified"] == 0.0
    assert result.external["transcribe-polly-baseline"] == 100.0
    bad = verify(LiveState(registry=compiled, phase=phase, runbook={"ghost": 0}, problems=("x: bad",)))
    assert not bad.ok
    assert [ok for ok, _ in bad.checks] == [False, False]
    assert not verify(LiveState()).ok


def test_runbook_text_has_live_values_and_exact_commands(compiled: CompiledRegistry) -> None:
    override = OverrideRecord(variant="sonic-unified", share=0, source="alarm", alarm="VoiceM2_P95_Breach",
                              reason="p95 900 ms", at=T0)
    state = LiveState(registry=compiled, phase=PhaseRecord(phase="Phase3_Week5", at=T0),
                      overrides={"sonic-unified": override})
    text = render_runbook(RunbookContext(NS, state, "Phase3_Week5", T0, {"VoiceM2_P95_Breach": "ALARM",
                                                                         "VoiceM2_TTFA_Regression": None},
                                         "Phase3_Week4", T0 + timedelta(minutes=5)))
    assert "phase: Phase3_Week5 since 2026-05-01T00:00:00+00:00" in text
    assert "alarms in ALARM: VoiceM2_P95_Breach" in text
    assert "alarms MISSING (nothing reverts on them): VoiceM2_TTFA_Regression" in text
    assert "sonic-unified forced to 0% by alarm VoiceM2_P95_Breach" in text
    assert "runtimes serve (external): transcribe-polly-baseline 100%" in text
    assert ("aws ssm put-parameter --name /silentinfinity/voice/variant_overrides --type String \\\n"
            """       --value '{"sonic-unified": 0, "transcribe-polly-baseline": 100}' --overwrite""") in text
    assert "voicectl override clear sonic-unified --namespace /silentinfinity/voice" in text
    assert "# -> Phase3_Week4" in text
    assert "within 30 s" in text


def test_runbook_flags_an_alarm_whose_revert_did_not_happen(compiled: CompiledRegistry) -> None:
    state = LiveState(registry=compiled, phase=PhaseRecord(phase="Phase3_Week5", at=T0))
    text = render_runbook(RunbookContext(NS, state, "Phase3_Week5", T0, {"VoiceM2_P95_Breach": "ALARM"}, None, T0))
    assert "VoiceM2_P95_Breach is in ALARM and should have reverted sonic-unified, but no override is set" in text
    assert ("voicectl override set sonic-unified=0 --namespace /silentinfinity/voice "
            "--reason 'VoiceM2_P95_Breach fired'") in text


def test_emergency_map_never_refuses_an_unknown_phase(compiled: CompiledRegistry) -> None:
    assert emergency_map(compiled, "Gone") == {
        "sesame-csm1b": 0, "sonic-unified": 0, "ws-echo": 0, "transcribe-polly-baseline": 100}


def test_verify_flags_a_deprecated_baseline(compiled: CompiledRegistry) -> None:
    state = LiveState(registry=compiled, phase=PhaseRecord(phase="Phase4_Week7", at=T0),
                      deprecated=frozenset({"transcribe-polly-baseline"}))
    result = verify(state)
    assert not result.ok
    assert "the baseline transcribe-polly-baseline is deprecated" in result.checks[0][1]


def test_verify_samples_the_runtimes_own_assignment(compiled: CompiledRegistry) -> None:
    state = LiveState(registry=compiled, phase=PhaseRecord(phase="Phase4_Week6", at=T0))
    split = verify(state, subjects=4000).sampled["external"]
    assert set(split) == {"sonic-unified", "transcribe-polly-baseline"}
    assert abs(split["sonic-unified"] - 50) < 3  # 50/50 phase
    reverted = verify(state.model_copy(update={"runbook": {"sonic-unified": 0, "transcribe-polly-baseline": 100}}),
                      subjects=4000)
    assert reverted.ok and reverted.sampled["external"] == {"transcribe-polly-baseline": 100.0}
    assert any("0% of 4000 sampled callers" in text for _, text in reverted.checks)


def test_internal_only_variant_reaches_internal_callers_only(compiled: CompiledRegistry) -> None:
    state = LiveState(registry=compiled, phase=PhaseRecord(phase="PathB_CSM_Internal", at=T0))
    result = verify(state, subjects=500)
    assert result.sampled["internal"] == {"sesame-csm1b": 100.0}
    assert result.sampled["external"] == {"transcribe-polly-baseline": 100.0}
    assert resolve_subject(state, "caller-1", internal=True) == "sesame-csm1b"
    assert resolve_subject(state, "caller-1", internal=False) == "transcribe-polly-baseline"
