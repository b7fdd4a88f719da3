"""voice_runtime.registry_client: fail-safe, never-waiting, one-cache-period-fresh live state (fake clock)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import boto3
import pytest

from control_plane.aws.live_store import read_namespace
from registry.assignment import Subject
from registry.compiled import CompiledRegistry
from registry.live_state import param_registry, param_runbook
from tests.voice_runtime.support import BASELINE, NS, RUNBOOK, FakeClock, namespace_values, phase_value
from voice_runtime.registry_client import RegistryClient

SUBJECTS = [Subject(f"user-{i}") for i in range(200)]


def client_for(fetch, clock: FakeClock, **kw) -> RegistryClient:  # type: ignore[no-untyped-def]
    return RegistryClient(fetch, namespace=NS, fallback_baseline=BASELINE, clock=clock, **kw)


class Flaky:
    """A fetch that serves `values` until told to fail or hang."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.mode = "ok"
        self.release = threading.Event()
        self.calls = 0

    def __call__(self) -> dict[str, str]:
        self.calls += 1
        if self.mode == "fail":
            raise ConnectionError("SSM unreachable")
        if self.mode == "hang":
            self.release.wait(10)
            raise TimeoutError("released")
        return dict(self.values)


@pytest.fixture
def flaky(compiled: CompiledRegistry) -> Iterator[Flaky]:
    f = Flaky(namespace_values(compiled, "Phase4_Week7"))  # sonic-unified 100%
    yield f
    f.release.set()


async def test_never_had_a_copy_serves_baseline_and_says_why(clock: FakeClock, flaky: Flaky) -> None:
    flaky.mode = "fail"
    client = client_for(flaky, clock)
    assert await client.refresh() is False
    assert {client.table().assign(s) for s in SUBJECTS} == {BASELINE}
    status = client.status()
    assert status.has_copy is False and status.stale is True
    assert status.last_error is not None and "SSM unreachable" in status.last_error


async def test_first_turn_never_waits_it_gets_baseline_then_the_registry(clock: FakeClock, flaky: Flaky) -> None:
    client = client_for(flaky, clock)
    assert client.table().assign(SUBJECTS[0]) == BASELINE  # no copy yet: fail safe, a refresh started
    await client.settle()
    assert client.table().assign(SUBJECTS[0]) == "sonic-unified"


@pytest.mark.parametrize("fault", ["fail", "hang"])
async def test_ssm_failing_or_hanging_mid_run_fails_no_turn(clock: FakeClock, flaky: Flaky, fault: str) -> None:
    client = client_for(flaky, clock, timeout=0.05)
    assert await client.refresh()
    flaky.mode = fault
    served = []
    for _ in range(120):  # 10 fake minutes, a turn every 5 s, SSM broken the whole time
        clock.advance(5)
        served += [client.table().assign(s) for s in SUBJECTS[:20]]
        await client.settle()
    assert served and set(served) == {"sonic-unified"}  # the last good copy, never the baseline, never an error
    status = client.status()
    assert status.has_copy and status.stale and status.failures > 0
    assert status.age_seconds == pytest.approx(600)
    if fault == "hang":
        # A hung fetch does not block the next attempt, but at most `max_hung` threads hang at once: later
        # attempts refuse to start another behind them.
        assert flaky.calls == 1 + client.max_hung  # the good fetch, then the hung ones
        assert status.hanging == client.max_hung
        assert status.last_error is not None and "hanging" in status.last_error
    flaky.release.set()


async def test_recovers_after_ssm_comes_back(clock: FakeClock, flaky: Flaky) -> None:
    client = client_for(flaky, clock)
    await client.refresh()
    flaky.mode = "fail"
    clock.advance(40)
    client.table()
    await client.settle()
    assert client.status().stale
    flaky.mode = "ok"
    flaky.values[f"{NS}/rollout/phase"] = phase_value("Phase1_Week1")
    clock.advance(5)
    client.table()
    await client.settle()
    status = client.status()
    assert not status.stale and status.last_error is None and status.phase == "Phase1_Week1"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param({"rollout/phase": phase_value("Phase1_Week1")}, BASELINE, id="phase-change"),
        pytest.param({"variant_overrides": RUNBOOK}, BASELINE, id="runbook-map"),
        pytest.param({"overrides/sonic-unified": '{"variant":"sonic-unified","share":0,"source":"alarm",'
                      '"at":"2026-05-01T00:00:00Z"}'}, BASELINE, id="revert-override"),
    ],
)
async def test_change_reaches_every_new_turn_within_one_cache_period(
    clock: FakeClock, flaky: Flaky, change: dict[str, str], expected: str
) -> None:
    client = client_for(flaky, clock)
    await client.refresh()
    ttl = client.ttl
    assert ttl == 30
    clock.advance(7)  # the change lands at an arbitrary point of the cache period
    changed_at = clock()
    flaky.values.update({f"{NS}/{k}": v for k, v in change.items()})
    late = []
    for _ in range(int(ttl * 2)):  # a turn every 0.5 s for one cache period
        clock.advance(0.5)
        variant = client.table().assign(SUBJECTS[len(late) % len(SUBJECTS)])
        late.append((clock() - changed_at, variant))
        await client.settle()
    assert all(v == expected for age, v in late if age >= ttl), late
    assert late[-1][1] == expected


async def test_malformed_registry_value_keeps_last_good_registry(
    clock: FakeClock, flaky: Flaky, compiled: CompiledRegistry
) -> None:
    client = client_for(flaky, clock)
    await client.refresh()
    flaky.values[param_registry(NS)] = "{not json"
    flaky.values[param_runbook(NS)] = RUNBOOK
    clock.advance(31)
    await client.refresh()
    assert client.status().digest == compiled.digest
    assert client.status().problems
    assert client.table().assign(SUBJECTS[0]) == BASELINE  # the runbook map still applies


async def test_background_loop_refreshes_without_turns(clock: FakeClock, flaky: Flaky) -> None:
    client = client_for(flaky, clock)
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.advance(seconds)
        if len(sleeps) >= 3:
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        await client.run(sleep=fake_sleep)
    assert flaky.calls == 3 and sleeps == [15, 15, 15]


async def test_runbook_map_written_into_moto_ssm_routes_every_new_turn_to_baseline(
    aws_endpoint: str, compiled: CompiledRegistry, clock: FakeClock
) -> None:
    """The memo's emergency runbook, verbatim: `aws ssm put-parameter --name .../variant_overrides ...`."""
    ssm = boto3.client("ssm", endpoint_url=aws_endpoint, region_name="us-east-1")
    for name, value in namespace_values(compiled, "Phase4_Week7").items():
        ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True, Tier="Advanced")
    client = client_for(lambda: read_namespace(ssm, NS), clock)
    assert await client.refresh()
    before = [client.table().assign(s) for s in SUBJECTS]
    assert set(before) == {"sonic-unified"}

    ssm.put_parameter(Name="/silentinfinity/voice/variant_overrides", Value=RUNBOOK, Type="String", Overwrite=True)
    routed_at = None
    for step in range(1, 61):
        clock.advance(1)
        if {client.table().assign(s) for s in SUBJECTS} == {BASELINE} and routed_at is None:
            routed_at = step
        await client.settle()
    assert routed_at is not None and routed_at <= 30
    assert {client.table().assign(s) for s in SUBJECTS} == {BASELINE}


async def test_the_periodic_loop_joins_a_refresh_in_flight(clock: FakeClock, flaky: Flaky) -> None:
    gate = threading.Event()
    original = flaky.__call__

    def slow() -> dict[str, str]:
        gate.wait(5)
        return original()

    async def stop_after_first(seconds: float) -> None:
        raise RuntimeError("stop")

    client = client_for(slow, clock)
    client.table()  # a turn starts a background refresh; its fetch blocks on `gate`
    loop_task = asyncio.get_running_loop().create_task(client.run(sleep=stop_after_first))
    # One scheduling step (FIFO, no wall time): the refresh task starts its fetch, then the loop makes its first
    # kick while that fetch is blocked, so it must join it rather than start another.
    await asyncio.sleep(0)
    gate.set()
    with pytest.raises(RuntimeError, match="stop"):
        await loop_task
    assert flaky.calls == 1 and client.status().failures == 0 and client.status().last_error is None


async def test_refresh_sees_writes_made_before_it_even_with_a_fetch_in_flight(clock: FakeClock, flaky: Flaky) -> None:
    gate, read = threading.Event(), threading.Event()
    original = flaky.__call__

    def slow() -> dict[str, str]:
        snapshot = original()  # reads SSM first, then is slow to return
        read.set()
        gate.wait(5)
        return snapshot

    client = client_for(slow, clock)
    client.table()  # a fetch in flight...
    assert await asyncio.to_thread(read.wait, 5)  # ...that has read the old phase
    flaky.values[f"{NS}/rollout/phase"] = phase_value("Phase1_Week1")
    refreshed = asyncio.get_running_loop().create_task(client.refresh())
    await asyncio.sleep(0)  # one scheduling step: refresh() finds that fetch in flight and waits for it
    assert not refreshed.done()
    gate.set()
    assert await refreshed is True
    assert client.status().phase == "Phase1_Week1" and flaky.calls == 2
