"""The in-process emulated backend (a test double of the AWS backends): latency, seeded replies, knobs, barge-in."""

from __future__ import annotations

import random
import statistics
from array import array
from collections.abc import AsyncIterator

import pytest

from emulators.inprocess import EmulatedAdapter, EmulatedBackendSettings, chirp, latency_sampler
from registry.compiled import CompiledVariant
from registry.model import Backend
from voice_runtime.adapters.base import AudioChunk, BackendError, BackendEvent, SessionContext, TurnEnd


def ctx(session_id: str = "s1") -> SessionContext:
    return SessionContext(session_id=session_id, subject="u", variant="v",
                          config=CompiledVariant(backend=Backend.ECHO, transport="websocket"))


async def frames(*chunks: bytes) -> AsyncIterator[bytes]:
    for c in chunks:
        yield c


async def collect(events: AsyncIterator[BackendEvent]) -> list[BackendEvent]:
    return [e async for e in events]


# --------------------------------------------------------------------------------------------------------

def test_lognormal_latency_matches_its_p50_and_p95() -> None:
    settings = EmulatedBackendSettings(latency_p50_ms=150, latency_p95_ms=300)
    rng = random.Random(7)
    draws = sorted(latency_sampler(settings, rng) * 1000 for _ in range(20_000))
    assert statistics.median(draws) == pytest.approx(150, rel=0.05)
    assert draws[int(0.95 * len(draws))] == pytest.approx(300, rel=0.07)


def test_chirp_is_real_audio_of_the_requested_length() -> None:
    pcm = array("h")
    pcm.frombytes(chirp(0.5, 440.0))
    assert len(pcm) == 12_000 and max(pcm) > 10_000 and min(pcm) < -10_000


async def test_emulated_reply_is_seeded_per_session() -> None:
    settings = EmulatedBackendSettings(latency="lognormal", latency_p50_ms=1, latency_p95_ms=3, realtime=False,
                                       failure_rate=0.5, reply_seconds=0.1, seed=3)

    async def outcomes(session_id: str) -> list[str]:
        session = await EmulatedAdapter(settings).open_session(ctx(session_id))
        out = []
        for _ in range(12):
            try:
                await collect(session.run_turn(frames(bytes(640))))
                out.append("ok")
            except BackendError:
                out.append("fail")
        return out

    first = await outcomes("a")
    assert first == await outcomes("a")
    assert {"ok", "fail"} == set(first)


async def test_latency_knob_applies_to_later_turns() -> None:
    adapter = EmulatedAdapter(EmulatedBackendSettings(latency="fixed", latency_p50_ms=1, realtime=False,
                                                      reply_seconds=0.1))
    adapter.set_latency(900, 1500)
    assert adapter.settings.latency_p50_ms == 900 and adapter.settings.latency_p95_ms == 1500
    adapter.set_failure_rate(1.0)
    session = await adapter.open_session(ctx())
    with pytest.raises(BackendError):
        adapter.set_latency(0, fixed=True)
        await collect(session.run_turn(frames(bytes(640))))
    with pytest.raises(ValueError):
        adapter.set_failure_rate(2)


async def test_emulated_barge_in_ends_the_turn_promptly() -> None:
    adapter = EmulatedAdapter(EmulatedBackendSettings(latency="fixed", latency_p50_ms=1, reply_seconds=10,
                                                      chunk_ms=20))
    session = await adapter.open_session(ctx())
    events = []
    async for event in session.run_turn(frames(bytes(640))):
        events.append(event)
        if isinstance(event, AudioChunk):
            await session.barge_in()
    assert isinstance(events[-1], TurnEnd) and events[-1].reason == "INTERRUPTED"
    assert sum(isinstance(e, AudioChunk) for e in events) == 1
