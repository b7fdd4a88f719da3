"""The one way a test waits for something another task or thread does: `await eventually(condition)`.

It polls `condition` (yielding to the event loop between polls) until it returns something truthy and returns
that, or fails with AssertionError naming what it waited for. The timeout is a bound for a broken system, never
a measurement: a test's assertions are on the condition's value, not on how long it took.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def eventually[T](condition: Callable[[], T], *, what: str = "", timeout: float = 10.0,
                     interval: float = 0.005) -> T:
    """The first truthy value of `condition()`, polled every `interval` s; AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {timeout:g}s for {what or condition!r}; last value {value!r}")
        await asyncio.sleep(interval)
