"""An in-process emulated backend: configurable latency distribution, failure rate and a real PCM reply.

A test double, never in the runtime's own adapter table: tests, the load test and the embedded stack hand it to
`AdapterTable(settings, factories=emulated_factories(...))`, so the runtime runs with no backend at all. Latency is
the time from the end of the user's audio to the first output chunk (fixed, or lognormal fitted to a p50 and a
p95); the reply is a 24 kHz s16le chirp of `reply_seconds`, paced at speaking speed unless `realtime` is off.
Randomness is seeded per session (settings seed + session id), so a run is reproducible. `set_latency` /
`set_failure_rate` change a running adapter: the demo injects a latency regression into "Nova Sonic" with it.
"""

from __future__ import annotations

import asyncio
import math
import random
from array import array
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from registry.model import Backend
from voice_runtime.adapters.base import (
    OUTPUT_SAMPLE_RATE,
    AudioChunk,
    BackendError,
    BackendEvent,
    SessionContext,
    Transcript,
    TurnEnd,
    Usage,
)


class EmulatedBackendSettings(BaseModel):
    """How an emulated backend behaves: latency before the first audio, failures, and the audio it speaks."""

    model_config = ConfigDict(extra="forbid")

    latency: Literal["fixed", "lognormal"] = "lognormal"
    latency_p50_ms: float = Field(default=150.0, ge=0)
    latency_p95_ms: float = Field(default=300.0, ge=0, description="Ignored for `fixed`.")
    failure_rate: float = Field(default=0.0, ge=0, le=1)
    reply_seconds: float = Field(default=1.0, gt=0, le=60, description="Length of the spoken reply.")
    chunk_ms: int = Field(default=100, ge=10, le=1000, description="Output audio per chunk.")
    realtime: bool = Field(default=True, description="Pace output at speaking speed (else as fast as possible).")
    tone_hz: float = Field(default=440.0, gt=0, lt=12_000)
    seed: int = 0


Sleep = Callable[[float], Awaitable[None]]
Z95 = 1.6448536269514722  # standard normal quantile of 0.95
# The AWS backends the in-process emulated backend can stand in for.
EMULATABLE = (Backend.NOVA_SONIC, Backend.M1_PIPELINE, Backend.CSM_SAGEMAKER)


def latency_sampler(settings: EmulatedBackendSettings, rng: random.Random) -> float:
    """One first-audio latency in seconds from the settings' distribution."""
    p50 = settings.latency_p50_ms / 1000
    if settings.latency == "fixed" or p50 <= 0:
        return p50
    p95 = max(settings.latency_p95_ms / 1000, p50)
    sigma = math.log(p95 / p50) / Z95 if p95 > p50 else 0.0
    return rng.lognormvariate(math.log(p50), sigma)


@lru_cache(maxsize=16)
def chirp(seconds: float, tone_hz: float, sample_rate: int = OUTPUT_SAMPLE_RATE) -> bytes:
    """A rising tone (tone_hz -> 1.5 x tone_hz) with 10 ms fades, s16le mono: audible and easy to recognise."""
    n = int(seconds * sample_rate)
    fade = max(1, sample_rate // 100)
    out = array("h", bytes(2 * n))
    phase = 0.0
    for i in range(n):
        freq = tone_hz * (1 + 0.5 * i / max(n, 1))
        phase += 2 * math.pi * freq / sample_rate
        envelope = min(1.0, i / fade, (n - 1 - i) / fade)
        out[i] = int(12000 * envelope * math.sin(phase))
    return out.tobytes()


class EmulatedSession:
    """One conversation with the emulated backend."""

    def __init__(self, adapter: EmulatedAdapter, ctx: SessionContext) -> None:
        self._adapter = adapter
        self.ctx = ctx
        self._rng = random.Random(f"{adapter.settings.seed}:{ctx.session_id}")
        self._barged = asyncio.Event()
        self.turns = 0
        self.closed = False

    async def run_turn(self, audio: AsyncIterator[bytes]) -> AsyncIterator[BackendEvent]:
        if self.closed:
            raise BackendError("emulated session is closed", retryable=False)
        self._barged.clear()
        self.turns += 1
        settings = self._adapter.settings  # read once: a knob turned mid-turn applies to the next turn
        received = 0
        async for frame in audio:
            received += len(frame)
        latency = latency_sampler(settings, self._rng)
        fails = self._rng.random() < settings.failure_rate
        if await self._wait(latency):
            yield TurnEnd(reason="INTERRUPTED")
            return
        if fails:
            raise BackendError(f"{self._adapter.name}: injected failure", code="emulated_failure")
        yield Transcript(role="user", text=f"({received // 32} ms of audio)")
        reply = chirp(settings.reply_seconds, settings.tone_hz)
        step = max(2, int(OUTPUT_SAMPLE_RATE * settings.chunk_ms / 1000) * 2)
        for start in range(0, len(reply), step):
            if self._barged.is_set():
                yield TurnEnd(reason="INTERRUPTED")
                return
            yield AudioChunk(reply[start : start + step])
            if await self._wait(settings.chunk_ms / 1000 if settings.realtime else 0.0):
                yield TurnEnd(reason="INTERRUPTED")
                return
        yield Transcript(role="assistant", text=f"({self._adapter.name} reply, {settings.reply_seconds:g} s)")
        yield Usage(input_tokens=received // 640, output_tokens=len(reply) // 960)
        yield TurnEnd()

    async def _wait(self, seconds: float) -> bool:
        """Sleep, cut short by barge-in; True when barged in."""
        if self._barged.is_set():
            return True
        if seconds <= 0:
            await asyncio.sleep(0)
            return self._barged.is_set()
        try:
            await asyncio.wait_for(self._barged.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def barge_in(self) -> None:
        self._barged.set()

    async def close(self) -> None:
        self.closed = True
        self._barged.set()


class EmulatedAdapter:
    """Factory of emulated sessions; its behaviour can be changed while it runs."""

    def __init__(self, settings: EmulatedBackendSettings | None = None, *, name: str = "emulated") -> None:
        self.settings = settings or EmulatedBackendSettings()
        self.name = name
        self.sessions_opened = 0

    def set_latency(self, p50_ms: float, p95_ms: float | None = None, *, fixed: bool | None = None) -> None:
        """The demo's knob: change the first-audio latency of every later turn."""
        update: dict[str, object] = {"latency_p50_ms": p50_ms, "latency_p95_ms": p95_ms if p95_ms else p50_ms}
        if fixed is not None:
            update["latency"] = "fixed" if fixed else "lognormal"
        self.settings = self.settings.model_copy(update=update)

    def set_failure_rate(self, rate: float) -> None:
        if not 0 <= rate <= 1:
            raise ValueError("failure rate must be within 0..1")
        self.settings = self.settings.model_copy(update={"failure_rate": rate})

    async def open_session(self, ctx: SessionContext) -> EmulatedSession:
        self.sessions_opened += 1
        return EmulatedSession(self, ctx)

    async def aclose(self) -> None:
        return None


def emulated_factories(per_backend: Mapping[Backend, EmulatedBackendSettings] | None = None,
                       default: EmulatedBackendSettings | None = None,
                       backends: Iterable[Backend] = EMULATABLE) -> dict[Backend, Callable[[object], EmulatedAdapter]]:
    """Adapter-table entries serving `backends` with the in-process emulated backend (the runtime's
    `AdapterTable(settings, factories=...)`): each backend's own behaviour from `per_backend`, else `default`."""
    chosen = dict(per_backend or {})
    fallback = default or EmulatedBackendSettings()

    def factory(backend: Backend) -> Callable[[object], EmulatedAdapter]:
        return lambda _settings: EmulatedAdapter(chosen.get(backend, fallback), name=f"{backend.value}(emulated)")

    return {backend: factory(backend) for backend in backends}


def latency_knob(adapters: Callable[[Backend], object]) -> Callable[[Mapping[str, list[str]]], tuple[int, object]]:
    """A runtime admin route (`create_server(..., routes={"/admin/emulated": ...})`) that turns an emulated
    backend's knobs: `?backend=nova_sonic&p50_ms=900&p95_ms=1500[&failure_rate=0.1]`. `adapters` is the runtime's
    `AdapterTable.get`."""

    def route(query: Mapping[str, list[str]]) -> tuple[int, object]:
        try:
            backend = Backend(query["backend"][0])
            adapter = adapters(backend)
            if not isinstance(adapter, EmulatedAdapter):
                return 409, {"error": f"{backend.value} is not served by the emulated backend"}
            if "p50_ms" in query:
                p50 = float(query["p50_ms"][0])
                adapter.set_latency(p50, float(query["p95_ms"][0]) if "p95_ms" in query else None)
            if "failure_rate" in query:
                adapter.set_failure_rate(float(query["failure_rate"][0]))
        except (KeyError, ValueError) as exc:
            return 400, {"error": f"bad query: {exc}"}
        except Exception as exc:  # e.g. the backend's adapter failed to load
            return 409, {"error": str(exc)}
        return 200, {"backend": backend.value, "settings": adapter.settings.model_dump()}

    return route
