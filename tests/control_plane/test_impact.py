"""Traffic impact of an apply: effective shares before/after the new registry, and the missing-phase blocker."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from control_plane.impact import Move, traffic_impact
from registry.compiled import CompiledRegistry, compile_registry
from registry.live_state import LiveState, OverrideRecord, PhaseRecord
from registry.loader import load_registry
from tests.conftest import EXAMPLE

AT = datetime(2026, 11, 25, 10, tzinfo=UTC)


@pytest.fixture(scope="module")
def current() -> CompiledRegistry:
    return compile_registry(load_registry(EXAMPLE))


def with_weights(reg: CompiledRegistry, phase: str, **weights: int) -> CompiledRegistry:
    phases = [p.model_copy(update={"weights": {**p.weights, **{k.replace("_", "-"): v for k, v in weights.items()}}})
              if p.name == phase else p for p in reg.phases]
    return reg.model_copy(update={"phases": phases})


def live(reg: CompiledRegistry | None, phase: str | None = None, **extra: object) -> LiveState:
    record = PhaseRecord(phase=phase, at=AT, actor="alice") if phase else None
    return LiveState(registry=reg, phase=record, **extra)


def test_same_registry_moves_nothing(current: CompiledRegistry) -> None:
    impact = traffic_impact(live(current, "Phase3_Week4"), current)
    assert (impact.changed, impact.blocker, impact.active_phase) == (False, None, "Phase3_Week4")


def test_active_phase_weight_change_moves_traffic(current: CompiledRegistry) -> None:
    new = with_weights(current, "Phase3_Week4", transcribe_polly_baseline=90, sonic_unified=10)
    impact = traffic_impact(live(current, "Phase3_Week4"), new)
    assert impact.moves == (Move("all", "sonic-unified", 5.0, 10.0), Move("all", "transcribe-polly-baseline",
                                                                           95.0, 90.0))
    assert impact.to_dict()["moves"][0] == {"audience": "all", "variant": "sonic-unified", "before": 5.0,
                                            "after": 10.0}


def test_other_phase_weight_change_moves_nothing_now(current: CompiledRegistry) -> None:
    new = with_weights(current, "Phase4_Week6", transcribe_polly_baseline=40, sonic_unified=60)
    assert not traffic_impact(live(current, "Phase3_Week4"), new).changed


def test_an_override_holds_the_variant_so_nothing_moves(current: CompiledRegistry) -> None:
    override = OverrideRecord(variant="sonic-unified", share=0, source="alarm", alarm="VoiceM2_P95_Breach", at=AT)
    new = with_weights(current, "Phase3_Week4", transcribe_polly_baseline=90, sonic_unified=10)
    assert not traffic_impact(live(current, "Phase3_Week4", overrides={"sonic-unified": override}), new).changed


def test_without_a_phase_record_the_first_phase_is_what_moves(current: CompiledRegistry) -> None:
    new = with_weights(current, "Phase1_Week1", transcribe_polly_baseline=99, sonic_unified=1)
    impact = traffic_impact(live(current), new)
    assert impact.active_phase is None
    assert Move("all", "sonic-unified", 0.0, 1.0) in impact.moves


def test_internal_subjects_listed_only_where_they_differ(current: CompiledRegistry) -> None:
    phases = [p.model_copy(update={"internal_weights": {"transcribe-polly-baseline": 50, "ws-echo": 50}})
              if p.name == "Phase1_Week1" else p for p in current.phases]
    impact = traffic_impact(live(current, "Phase1_Week1"), current.model_copy(update={"phases": phases}))
    assert impact.moves == (Move("internal", "transcribe-polly-baseline", 0.0, 50.0),
                            Move("internal", "ws-echo", 100.0, 50.0))


def test_first_apply_shows_what_runtimes_start_serving(current: CompiledRegistry) -> None:
    impact = traffic_impact(live(None), current)
    assert Move("all", "transcribe-polly-baseline", None, 100.0) in impact.moves
    assert impact.blocker is None


def test_a_registry_without_the_active_phase_is_a_blocker(current: CompiledRegistry) -> None:
    phases = [p.model_copy(update={"name": "Phase3_Canary"}) if p.name == "Phase3_Week4" else p
              for p in current.phases]
    impact = traffic_impact(live(current, "Phase3_Week4"), current.model_copy(update={"phases": phases}))
    assert impact.blocker is not None
    assert "Phase3_Week4" in impact.blocker
    assert Move("all", "transcribe-polly-baseline", 95.0, 100.0) in impact.moves
