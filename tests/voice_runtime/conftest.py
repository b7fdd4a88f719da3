"""Fixtures of the voice runtime tests (`async def` tests run under pytest-asyncio, configured in pyproject)."""

from __future__ import annotations

import pytest

from registry.compiled import CompiledRegistry, compile_registry
from registry.loader import load_registry
from tests.voice_runtime.support import EXAMPLE, FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def compiled() -> CompiledRegistry:
    return compile_registry(load_registry(EXAMPLE))
