"""The runtime's copy of the live state: one batch fetch per cache period, refreshed in the background.

A turn calls `table()`, which never waits: it returns the precomputed assignment table of the current copy and,
when the copy is half a cache period old, starts a background refresh. The fetch (a blocking boto3 call in
production: `lambda: read_namespace(ssm, ns)`) runs on a daemon thread under a timeout. When it fails or hangs,
the last good copy stays in service; with no copy at all every turn gets the baseline (fail safe, STYLE.md #9).
Failures are never cached: the next attempt comes `retry_seconds` after the failure.

A hung fetch never delays the next attempt: the attempt gives up after `timeout` and the call goes on in its own
thread (a daemon: it cannot hold the process at exit) while the next attempt starts on a new one; at most
`max_hung` such threads exist at once, so a dead endpoint costs bounded threads, not unbounded ones.

Freshness: with turns flowing or `run()` looping, a fetch starts at most ttl/2 after any change in SSM and
completes within `timeout`, so every turn starting later than ttl/2 + timeout after the change sees it
(< ttl for the defaults 30 s / 5 s). Recovery: once SSM answers again, the attempt in flight gives up within
`timeout` and the next starts `retry_seconds` later, so a fresh copy is in service within
timeout + retry_seconds + the fetch itself, inside the same ttl/2 + timeout bound (docs/reliability.md).

The log says when the source starts failing (with what the runtime serves meanwhile), that it is still failing
(at most once per `log_every` seconds) and when it recovers; a flapping source is held to the same rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from registry.assignment import SUPPORTED_VERSIONS, AssignmentTable
from registry.live_state import LiveState, live_state_from_parameters, param_registry
from voice_runtime.background import call_in_thread
from voice_runtime.throttle import Throttle

log = logging.getLogger(__name__)

Fetch = Callable[[], Mapping[str, str]]
Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

REFRESH_AHEAD = 0.5  # refresh when the copy is this fraction of the TTL old
MAX_HUNG = 4  # fetch threads allowed to hang at once (each gives up when its client's read timeout does)
LOG_EVERY = 60.0


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
    hanging: int = 0

    def to_json(self) -> dict[str, object]:
        return {
            "has_copy": self.has_copy, "age_s": None if self.age_seconds is None else round(self.age_seconds, 3),
            "ttl_s": self.ttl_seconds, "stale": self.stale, "digest": self.digest, "phase": self.phase,
            "last_error": self.last_error, "fetches": self.fetches, "failures": self.failures,
            "problems": list(self.problems), "hanging_fetches": self.hanging,
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
        sleep: Sleep = asyncio.sleep,
        timeout: float = 5.0,
        default_ttl: float = 30.0,
        retry_seconds: float = 2.0,
        max_hung: int = MAX_HUNG,
        log_every: float = LOG_EVERY,
    ) -> None:
        self._fetch = fetch
        self.namespace = namespace.rstrip("/")
        self.fallback_baseline = fallback_baseline
        self._clock = clock
        self._sleep = sleep
        self.max_hung = max_hung
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
        self._failing_since: float | None = None
        self._failures_in_episode = 0
        self._episode_logged = False
        self._log_throttle = Throttle(log_every, clock)

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
        with self._lock:
            hanging = self._threads_running
        if hanging >= self.max_hung:
            # Bounded threads: refuse to start one more behind those still stuck in their calls.
            return self._failed(f"{hanging} SSM fetches still hanging")
        fetch = asyncio.ensure_future(call_in_thread(self._fetch_in_thread, name="registry-fetch"))
        timer = asyncio.ensure_future(self._sleep(self._timeout))
        try:
            await asyncio.wait({fetch, timer}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            timer.cancel()
        if not fetch.done():
            # The call goes on in its daemon thread; its eventual outcome is nobody's business any more.
            fetch.add_done_callback(lambda f: f.cancelled() or f.exception())
            return self._failed(f"SSM fetch timed out after {self._timeout:g}s")
        try:
            state = fetch.result()
        except Exception as exc:  # any fetch failure keeps the last good copy: the turn path must go on
            return self._failed(f"{type(exc).__name__}: {exc}")
        self._install(state, self._clock())
        return True

    def _failed(self, message: str) -> bool:
        now = self._clock()
        self.failures += 1
        self.last_error = message
        # Counted from the failure, not the start: a hung attempt is followed `retry_seconds` after it gave up.
        self._next_attempt = now + min(self._retry_seconds, self.ttl * REFRESH_AHEAD)
        if self._failing_since is None:
            self._failing_since = now
            self._failures_in_episode = 0
            self._episode_logged = False
        self._failures_in_episode += 1
        held = self._log_throttle.ready()
        if held is not None:
            if not self._episode_logged:
                log.warning("registry source failing: %s; serving %s", message, self._serving())
            else:
                log.warning("registry source still failing (%d attempts in %.0fs): %s; serving %s",
                            self._failures_in_episode, now - self._failing_since, message, self._serving())
            self._episode_logged = True
        return False

    def _serving(self) -> str:
        if self._state is None or self._state.registry is None or self._fetched_at is None:
            return f"the baseline {self.fallback_baseline!r} (no copy was ever read)"
        return (f"the last good copy (digest {self._state.registry.digest}, "
                f"{self._clock() - self._fetched_at:.0f}s old)")

    def _recovered(self, at: float) -> None:
        if self._failing_since is None:
            return
        if self._episode_logged:
            # Said whatever the throttle: every failure line that was logged gets its recovery line.
            log.warning("registry source recovered after %d failed attempts in %.1fs",
                        self._failures_in_episode, at - self._failing_since)
        self._failing_since = None

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
        self._recovered(at)

    async def run(self, sleep: Sleep | None = None) -> None:
        """Refresh every ttl/2 for ever, and `retry_seconds` after a failure (the server runs this as a task so
        idle periods do not age the copy)."""
        sleep = sleep or self._sleep
        while True:
            # Join a fetch a turn already started instead of doubling it.
            self._kick(self._clock(), force=True)
            await self.settle()
            due = self._refresh_at if self.last_error is None else self._next_attempt
            await sleep(max(due - self._clock(), 0.05))

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
            hanging=self._threads_running,
        )
