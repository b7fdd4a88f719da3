"""The runtime's copy of the live state: one batch fetch per cache period, refreshed in the background.

A turn calls `table()`, which never waits: it returns the precomputed assignment table of the current copy and,
when the copy is half a cache period old, starts a background refresh. The fetch (a blocking boto3 call in
production: `lambda: read_namespace(ssm, ns)`) runs in a worker thread under a timeout. When it fails or hangs,
the last good copy stays in service; with no copy at all every turn gets the baseline (fail safe, STYLE.md #9).
Failures are never cached: the next attempt comes after a short back-off.

Freshness: with turns flowing or `run()` looping, a fetch starts at most ttl/2 after any change in SSM and
completes within `timeout`, so every turn starting later than ttl/2 + timeout after the change sees it
(< ttl for the defaults 30 s / 5 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from registry.assignment import SUPPORTED_VERSIONS, AssignmentTable
from registry.live_state import LiveState, live_state_from_parameters, param_registry

Fetch = Callable[[], Mapping[str, str]]
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

REFRESH_AHEAD = 0.5  # refresh when the copy is this fraction of the TTL old


@dataclass(frozen=True)
class RegistryStatus:
    """How stale the runtime's copy is; shown in `turn_start`, /healthz and `voicectl runtime status`."""

    has_copy: bool
    age_seconds: float | None
    ttl_seconds: float
    stale: bool
    digest: str | None
    phase: str | None
    last_error: str | None
    fetches: int
    failures: int
    problems: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "has_copy": self.has_copy, "age_s": None if self.age_seconds is None else round(self.age_seconds, 3),
            "ttl_s": self.ttl_seconds, "stale": self.stale, "digest": self.digest, "phase": self.phase,
            "last_error": self.last_error, "fetches": self.fetches, "failures": self.failures,
            "problems": list(self.problems),
        }


class RegistryClient:
    """Holds the live state and its assignment table; see the module docstring for the refresh policy."""

    def __init__(
        self,
        fetch: Fetch,
        *,
        namespace: str,
        fallback_baseline: str,
        clock: Clock = time.monotonic,
        timeout: float = 5.0,
        default_ttl: float = 30.0,
        retry_seconds: float = 2.0,
    ) -> None:
        self._fetch = fetch
        self.namespace = namespace.rstrip("/")
        self.fallback_baseline = fallback_baseline
        self._clock = clock
        self._timeout = timeout
        self._default_ttl = default_ttl
        self._retry_seconds = retry_seconds
        self._state: LiveState | None = None
        self._table = AssignmentTable.from_state(LiveState(), fallback_baseline=fallback_baseline)
        self._fetched_at: float | None = None
        self._refresh_at = -float("inf")  # when the copy becomes half a TTL old (precomputed for the hot path)
        self._next_attempt = -float("inf")
        self._task: asyncio.Task[bool] | None = None
        self._threads_running = 0
        self._lock = threading.Lock()
        self.last_error: str | None = None
        self.fetches = 0
        self.failures = 0

    # --- the hot path ----------------------------------------------------------------------------------------------

    def table(self) -> AssignmentTable:
        """The assignment table for this turn; never waits on SSM (may start a background refresh)."""
        now = self._clock()
        if now >= self._refresh_at:
            self._kick(now)
        return self._table

    # --- refresh ---------------------------------------------------------------------------------------------------

    @property
    def ttl(self) -> float:
        reg = self._state.registry if self._state else None
        return float(reg.cache_ttl_seconds) if reg else self._default_ttl

    @property
    def state(self) -> LiveState | None:
        return self._state

    def _kick(self, now: float, *, force: bool = False) -> None:
        if (self._task is not None and not self._task.done()) or (now < self._next_attempt and not force):
            return
        try:
            self._task = asyncio.get_running_loop().create_task(self._refresh_now())
        except RuntimeError:  # no event loop (a synchronous caller): the copy is served as is
            return

    async def settle(self) -> None:
        """Wait for the background refresh in flight, if any (tests and startup)."""
        if self._task is not None:
            await asyncio.shield(self._task)

    def _fetch_in_thread(self) -> LiveState:
        with self._lock:
            self._threads_running += 1
        try:
            return live_state_from_parameters(self.namespace, self._fetch())
        finally:
            with self._lock:
                self._threads_running -= 1

    async def refresh(self) -> bool:
        """Fetch and swap in a new copy now (a fetch that starts after this call, so it sees every write made
        before it); False, with the last good copy kept, when SSM fails or hangs."""
        while self._task is not None and not self._task.done():
            with contextlib.suppress(Exception):
                await asyncio.shield(self._task)
        self._task = asyncio.get_running_loop().create_task(self._refresh_now())
        return await asyncio.shield(self._task)

    async def _refresh_now(self) -> bool:
        started = self._clock()
        self._next_attempt = started + self._retry_seconds
        if self._threads_running > 0:
            # A previous fetch is still hanging in its thread: do not pile up threads behind it.
            return self._failed(started, "SSM fetch still hanging from a previous attempt")
        try:
            state = await asyncio.wait_for(asyncio.to_thread(self._fetch_in_thread), self._timeout)
        except TimeoutError:
            return self._failed(started, f"SSM fetch timed out after {self._timeout:g}s")
        except Exception as exc:  # any fetch failure keeps the last good copy: the turn path must go on
            return self._failed(started, f"{type(exc).__name__}: {exc}")
        self._install(state, self._clock())
        return True

    def _failed(self, at: float, message: str) -> bool:
        self.failures += 1
        self.last_error = message
        self._next_attempt = at + self._retry_seconds
        return False

    def _install(self, state: LiveState, at: float) -> None:
        registry_param = param_registry(self.namespace)
        if (
            state.registry is None
            and self._state is not None
            and self._state.registry is not None
            and any(p.startswith(registry_param + ":") for p in state.problems)
        ):
            # A malformed registry value must not turn a working runtime into an all-baseline one: keep the
            # last good registry and apply the new phase and overrides on it.
            state = state.model_copy(update={"registry": self._state.registry})
        self._state = state
        self._table = AssignmentTable.from_state(state, fallback_baseline=self.fallback_baseline)
        self._fetched_at = at
        self._refresh_at = at + self.ttl * REFRESH_AHEAD
        self._next_attempt = at
        self.fetches += 1
        self.last_error = None

    async def run(self, sleep: Sleep = asyncio.sleep) -> None:
        """Refresh every ttl/2 for ever (the server runs this as a task so idle periods do not age the copy)."""
        while True:
            # Join a fetch a turn already started instead of doubling it.
            self._kick(self._clock(), force=True)
            await self.settle()
            await sleep(max(self.ttl * REFRESH_AHEAD, 0.05))

    # --- staleness -------------------------------------------------------------------------------------------------

    def status(self) -> RegistryStatus:
        """Age of the copy, last error, and what it holds."""
        state = self._state
        reg = state.registry if state else None
        age = None if self._fetched_at is None else self._clock() - self._fetched_at
        problems = tuple(state.problems) if state else ()
        if reg is not None and reg.assignment_version not in SUPPORTED_VERSIONS:
            problems += (f"registry asks for assignment version {reg.assignment_version}; this runtime knows "
                         f"{sorted(SUPPORTED_VERSIONS)}",)
        return RegistryStatus(
            has_copy=reg is not None,
            age_seconds=age,
            ttl_seconds=self.ttl,
            stale=reg is None or age is None or age > self.ttl,
            digest=reg.digest if reg else None,
            phase=(state.phase.phase if state and state.phase else (reg.phases[0].name if reg and reg.phases
                                                                    else None)),
            last_error=self.last_error,
            fetches=self.fetches,
            failures=self.failures,
            problems=problems,
        )
