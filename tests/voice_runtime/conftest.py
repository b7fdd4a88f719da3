"""Fixtures of the voice runtime tests, and an `async def` test runner (the project has no pytest-asyncio)."""

from __future__ import annotations

import asyncio
import inspect

import pytest

from registry.compiled import CompiledRegistry, compile_registry
from registry.loader import load_registry
from tests.voice_runtime.support import EXAMPLE, FakeClock

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


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def compiled() -> CompiledRegistry:
    return compile_registry(load_registry(EXAMPLE))
