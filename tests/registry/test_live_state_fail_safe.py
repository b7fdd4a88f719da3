"""A present-but-malformed live value is read the most conservative way, never skipped (issue 17: skipping a
malformed `overrides/<variant>` removed its revert, 8/8 turns went back to the reverted variant)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from registry.assignment import AssignmentTable, Subject
from registry.compiled import CompiledRegistry, compile_registry
from registry.live_state import (
    OverrideRecord,
    effective_weights,
    live_state_from_parameters,
    param_override,
    param_phase,
    param_registry,
    param_runbook,
)
from registry.loader import load_registry
from tests.conftest import EXAMPLE

NS = "/silentinfinity/voice"
BASELINE = "transcribe-polly-baseline"
AT = datetime(2026, 5, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def compiled() -> CompiledRegistry:
    return compile_registry(load_registry(EXAMPLE))


def values(compiled: CompiledRegistry, **extra: str) -> dict[str, str]:
    phase = json.dumps({"phase": "Phase4_Week7", "at": AT.isoformat()})  # sonic-unified 100% external
    return {param_registry(NS): compiled.to_json(), param_phase(NS): phase, **extra}


REVERT = OverrideRecord(variant="sonic-unified", share=0, source="alarm", alarm="VoiceM2_P95_Breach",
                        at=AT).model_dump_json()


@pytest.mark.parametrize("value", [
    pytest.param("{not json", id="not-json"),
    pytest.param(REVERT[:-5], id="truncated"),
    pytest.param(json.dumps({"variant": "sonic-unified", "share": "zero", "at": AT.isoformat()}), id="bad-share"),
    pytest.param(REVERT.replace('"variant":"sonic-unified"', '"variant":"sesame-csm1b"'), id="other-variant"),
])
def test_a_malformed_override_pins_its_variant_to_zero(compiled: CompiledRegistry, value: str) -> None:
    state = live_state_from_parameters(NS, values(compiled, **{param_override(NS, "sonic-unified"): value}))
    assert effective_weights(state)["sonic-unified"] == 0.0
    assert effective_weights(state, internal=True)["sonic-unified"] == 0.0
    assert state.unreadable_overrides == {"sonic-unified"}
    [problem] = state.problems
    assert problem.startswith(param_override(NS, "sonic-unified")) and "read as sonic-unified at 0%" in problem
    table = AssignmentTable.from_state(state, fallback_baseline=BASELINE)  # what each runtime turn uses
    assert {table.assign(Subject(f"caller-{i}")) for i in range(200)} == {BASELINE}


@pytest.mark.parametrize("value", [
    pytest.param("{'sonic-unified': 0}", id="python-quotes"),
    pytest.param('["sonic-unified", 0]', id="not-a-map"),
    pytest.param('{"sonic-unified": "0"}', id="string-share"),
    pytest.param('{"sonic-unified": 0, ', id="cut-off"),
])
def test_a_malformed_runbook_map_sends_everything_to_the_baseline(compiled: CompiledRegistry, value: str) -> None:
    state = live_state_from_parameters(NS, values(compiled, **{param_runbook(NS): value}))
    assert state.runbook_unreadable
    for internal in (False, True):
        weights = effective_weights(state, internal=internal)
        assert weights[BASELINE] == 100.0 and sum(weights.values()) == 100.0
    assert "read as everything to the baseline" in state.problems[0]


def test_well_formed_values_are_unchanged(compiled: CompiledRegistry) -> None:
    state = live_state_from_parameters(NS, values(compiled, **{param_runbook(NS): "{}"}))
    assert not state.runbook_unreadable and not state.problems
    assert effective_weights(state)["sonic-unified"] == 100.0
