"""Shared fixtures of the voice runtime tests: a fake clock and the example registry's live state."""

from __future__ import annotations

import asyncio
import inspect
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from registry.compiled import CompiledRegistry, compile_registry
from registry.live_state import PhaseRecord, param_phase, param_registry
from registry.loader import load_registry

ASYNC_TEST_TIMEOUT = 60.0


@pytest.hookimpl
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Run `async def` tests on a fresh event loop (no pytest-asyncio in this project), under a timeout so a
    protocol bug fails the test instead of hanging the suite."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    kwargs = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    asyncio.run(asyncio.wait_for(pyfuncitem.obj(**kwargs), ASYNC_TEST_TIMEOUT))
    return True


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


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def compiled() -> CompiledRegistry:
    return compile_registry(load_registry(EXAMPLE))


def phase_value(name: str) -> str:
    return PhaseRecord(phase=name, at=datetime(2026, 5, 1, tzinfo=UTC), actor="test").model_dump_json()


def namespace_values(compiled: CompiledRegistry, phase: str, **extra: str) -> dict[str, str]:
    """The SSM map a runtime would read: the compiled registry, the active phase, plus any extra parameters."""
    values = {param_registry(NS): compiled.to_json(), param_phase(NS): phase_value(phase)}
    values.update({f"{NS}/{k}": v for k, v in extra.items()})
    return values


RUNBOOK = json.dumps({"sonic-unified": 0, "transcribe-polly-baseline": 100})
