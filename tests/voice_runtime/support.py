"""Shared helpers of the voice runtime tests: a fake clock and the example registry's live state in SSM form."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from registry.compiled import CompiledRegistry
from registry.live_state import PhaseRecord, param_phase, param_registry

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "voice-m2.yaml"
NS = "/silentinfinity/voice"
BASELINE = "transcribe-polly-baseline"


class FakeClock:
    """Monotonic seconds that only move when a test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def phase_value(name: str) -> str:
    return PhaseRecord(phase=name, at=datetime(2026, 5, 1, tzinfo=UTC), actor="test").model_dump_json()


def namespace_values(compiled: CompiledRegistry, phase: str, **extra: str) -> dict[str, str]:
    """The SSM map a runtime would read: the compiled registry, the active phase, plus any extra parameters."""
    values = {param_registry(NS): compiled.to_json(), param_phase(NS): phase_value(phase)}
    values.update({f"{NS}/{k}": v for k, v in extra.items()})
    return values


RUNBOOK = json.dumps({"sonic-unified": 0, "transcribe-polly-baseline": 100})
