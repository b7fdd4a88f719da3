"""Recovery after a hung SSM call, on virtual time: the refresh loop's sleeps *and* the fetch timeout run on an
injected clock, so the schedule is exact and nothing waits for real seconds.

Before (issue 17): a fetch hung in its thread made every later attempt fail at once ("still hanging") until
botocore gave up on it, so recovery took longer than ttl/2 + timeout (10.7-11.8 s measured there, 71 s for a
call botocore retried); and nothing was logged when the source failed or recovered.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from registry.compiled import CompiledRegistry
from tests.voice_runtime.support import BASELINE, NS, namespace_values
from voice_runtime.registry_client import REFRESH_AHEAD, RegistryClient

TIMEOUT = 5.0
RETRY = 2.0


class VirtualTime:
    """A clock and an `asyncio.sleep` replacement: sleepers wake only when the test advances time."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, next(self._order), future))
        await future

    async def run_until(self, until: float, settle: Settle) -> None:
        """Wake sleepers in time order up to `until`, letting the client finish what each wake-up started."""
        while True:
            await settle()
            live = [s for s in self._sleepers if not s[2].done()]
            heapq.heapify(live)
            self._sleepers = live
            if not live or live[0][0] > until:
                self.now = until
                return
            at, _, future = heapq.heappop(self._sleepers)
            self.now = max(self.now, at)
            future.set_result(None)


class SSM:
    """Answers from `values`; calls started between `hang_from` and `recover_at` (virtual time) hang until the
    test ends: a connection to an endpoint that stopped answering stays stuck even after the endpoint is back."""

    def __init__(self, values: dict[str, str], time: VirtualTime) -> None:
        self.values = values
        self.time = time
        self.hang_from = float("inf")
        self.recover_at = float("inf")
        self.release = threading.Event()
        self.answered = 0
        self.lock = threading.Lock()

    def __call__(self) -> dict[str, str]:
        if self.hang_from <= self.time.now < self.recover_at:
            self.release.wait(30)
            raise ConnectionError("connection reset")
        with self.lock:
            self.answered += 1
        return dict(self.values)


class Settle:
    """Waits (in real time, bounded) until every answered fetch was installed, then lets the loop run on."""

    def __init__(self, client: RegistryClient, ssm: SSM, installs: list[float], time: VirtualTime) -> None:
        self.client, self.ssm, self.installs, self.time = client, ssm, installs, time

    async def __call__(self) -> None:
        async with asyncio.timeout(10):
            while self.client.fetches < self.ssm.answered:
                await asyncio.sleep(0.001)
        for _ in range(20):  # the refresh task and the loop reach their next sleep
            await asyncio.sleep(0)
        while len(self.installs) < self.client.fetches:
            self.installs.append(self.time.now)


@dataclass
class World:
    time: VirtualTime
    ssm: SSM
    client: RegistryClient
    settle: Settle
    installs: list[float]


@pytest.fixture
async def world(compiled: CompiledRegistry, caplog: pytest.LogCaptureFixture) -> AsyncIterator[World]:
    """A client with a good first copy and its refresh loop running on virtual time; the hung calls are released
    at the end."""
    caplog.set_level(logging.WARNING, logger="voice_runtime.registry_client")
    time = VirtualTime()
    ssm = SSM(namespace_values(compiled, "Phase4_Week7"), time)
    client = RegistryClient(ssm, namespace=NS, fallback_baseline=BASELINE, clock=time, sleep=time.sleep,
                            timeout=TIMEOUT, retry_seconds=RETRY, log_every=60)
    installs: list[float] = []
    assert await client.refresh()
    loop = asyncio.get_running_loop().create_task(client.run())
    try:
        yield World(time, ssm, client, Settle(client, ssm, installs, time), installs)
    finally:
        loop.cancel()
        ssm.release.set()


def registry_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("registry source")]


async def test_a_hung_call_does_not_delay_recovery_past_ttl_half_plus_timeout(
    world: World, caplog: pytest.LogCaptureFixture,
) -> None:
    time, ssm, client = world.time, world.ssm, world.client
    ttl = client.ttl
    assert ttl == 30
    # SSM stops answering at t+10 and answers again at t+23; the calls made meanwhile never come back.
    ssm.hang_from, ssm.recover_at = time.now + 10, time.now + 23
    await time.run_until(ssm.recover_at, world.settle)
    assert client.status().last_error is not None and "timed out" in client.status().last_error
    before = len(world.installs)
    await time.run_until(ssm.recover_at + ttl, world.settle)
    first_after = min(t for t in world.installs[before:] if t >= ssm.recover_at)
    recovery = first_after - ssm.recover_at
    # The exact schedule: attempt at +15 hangs, gives up at +20, retries at +22 (hangs: before recovery),
    # gives up at +27, retries at +29 and succeeds: 6 s after SSM came back.
    assert recovery == pytest.approx(TIMEOUT + RETRY - 1)
    assert recovery <= ttl * REFRESH_AHEAD + TIMEOUT  # the documented bound (20 s for 30 s / 5 s)
    assert client.status().last_error is None and client.status().hanging == 2
    lines = registry_lines(caplog)
    failing = [m for m in lines if m.startswith("registry source failing")]
    recovered = [m for m in lines if m.startswith("registry source recovered")]
    assert len(failing) == 1 and "serving the last good copy" in failing[0], lines
    assert len(recovered) == 1 and "after 2 failed attempts" in recovered[0], lines


async def test_a_long_outage_is_logged_once_a_minute_not_once_per_attempt(
    world: World, caplog: pytest.LogCaptureFixture,
) -> None:
    world.client.max_hung = 1000  # this test counts log lines, not threads
    world.ssm.hang_from = world.time.now
    await world.time.run_until(world.time.now + 300, world.settle)  # five minutes of an endpoint never answering
    lines = registry_lines(caplog)
    assert world.client.failures >= 40  # an attempt every timeout + retry = 7 s
    assert 4 <= len(lines) <= 6, lines  # one line a minute: the first, then "still failing"
    assert all("still failing" in m for m in lines[1:])
