"""Status document (pure): what runtimes serve, bake remaining, overrides, next gates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from control_plane.rollout.gates import GateResult, Verdict
from control_plane.rollout.guard import Facts, decide
from control_plane.rollout.machine import Step
from control_plane.status import StatusInput, build_status
from registry.compiled import compile_registry
from registry.live_state import LiveState, OverrideRecord, PhaseRecord
from registry.loader import load_registry

T0 = datetime(2026, 5, 1, tzinfo=UTC)


def test_status_document(example_path: Path) -> None:
    compiled = compile_registry(load_registry(example_path))
    override = OverrideRecord(variant="sonic-unified", share=0, source="alarm", alarm="P95", at=T0)
    state = LiveState(registry=compiled, phase=PhaseRecord(phase="Phase3_Week4", actor="ann", at=T0),
                      overrides={"sonic-unified": override})
    now = T0 + timedelta(hours=20)
    gate = GateResult("metric", "TTFA p50", "< 300", 240.0, Verdict.PASS, "ok")
    decision = decide(Facts(step=Step("Phase3_Week4", "Phase3_Week5", None), now=now, entered_at=T0,
                            bake_seconds=48 * 3600, gates=[gate], overrides=state.overrides))
    doc = build_status(StatusInput("/silentinfinity/voice", state, "Phase3_Week4", None, T0, now, "Phase3_Week5",
                                   decision, {"P95": "ALARM", "Gone": None}))
    assert doc["phase"]["bake_remaining"] == "1d 4h"  # type: ignore[index]
    assert doc["effective_weights"]["external"]["sonic-unified"] == 0.0  # type: ignore[index]
    assert doc["overrides"][0]["alarm"] == "P95"  # type: ignore[index]
    assert doc["alarms"] == {"P95": "ALARM", "Gone": "MISSING"}
    assert [r["code"] for r in doc["next"]["decision"]["reasons"]] == [  # type: ignore[index]
        "bake_remaining", "override_active"]
    assert doc["runbook_map"]["emergency_value"] == (  # type: ignore[index]
        '{"sonic-unified": 0, "transcribe-polly-baseline": 100}')
