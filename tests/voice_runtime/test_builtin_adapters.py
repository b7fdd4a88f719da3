"""The runtime's own adapters (echo, emulated) and the adapter table's lazy loading and fallbacks."""

from __future__ import annotations

import asyncio
import random
import statistics
from array import array
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry.compiled import CompiledVariant
from registry.model import Backend
from voice_runtime.adapters.base import AudioChunk, BackendError, BackendEvent, SessionContext, TurnEnd
from voice_runtime.adapters.echo import EchoAdapter, Resampler, resample_16k_to_24k
from voice_runtime.adapters.emulated import EmulatedAdapter, chirp, latency_sampler
from voice_runtime.adapters.table import AdapterTable
from voice_runtime.settings import EmulatedBackendSettings, RuntimeSettings


def ctx(session_id: str = "s1") -> SessionContext:
    return SessionContext(session_id=session_id, subject="u", variant="v",
                          config=CompiledVariant(backend=Backend.ECHO, transport="websocket"))


async def frames(*chunks: bytes) -> AsyncIterator[bytes]:
    for c in chunks:
        yield c


async def collect(events: AsyncIterator[BackendEvent]) -> list[BackendEvent]:
    return [e async for e in events]


# --- echo ------------------------------------------------------------------------------------------------------------

def test_resampler_keeps_a_constant_signal_and_the_3_to_2_ratio() -> None:
    pcm = array("h", [1000] * 1600).tobytes()
    out = array("h")
    out.frombytes(resample_16k_to_24k(pcm))
    assert len(out) == 2400 and set(out) == {1000}


@given(st.binary(max_size=4000), st.integers(1, 999))
def test_streaming_resampling_equals_one_shot(pcm: bytes, cut: int) -> None:
    r = Resampler()
    streamed = b"".join(r.feed(pcm[i : i + cut]) for i in range(0, len(pcm), cut)) + r.flush()
    assert streamed == resample_16k_to_24k(pcm)
    assert len(streamed) % 6 == 0 and len(streamed) >= (len(pcm) // 2) * 3


async def test_echo_plays_the_turn_back_at_24khz() -> None:
    session = await EchoAdapter().open_session(ctx())
    events = await collect(session.run_turn(frames(bytes(640), bytes(640))))
    audio = b"".join(e.pcm for e in events if isinstance(e, AudioChunk))
    assert len(audio) == 1920 and isinstance(events[-1], TurnEnd)


# --- emulated --------------------------------------------------------------------------------------------------------

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


# --- table -----------------------------------------------------------------------------------------------------------

def test_unloadable_adapter_is_a_backend_error_without_emulation() -> None:
    table = AdapterTable(RuntimeSettings(), {Backend.NOVA_SONIC: "voice_runtime.adapters.absent:Nope"})
    with pytest.raises(BackendError) as info:
        table.get(Backend.NOVA_SONIC)
    assert info.value.code == "backend_unavailable" and Backend.NOVA_SONIC in table.load_errors


def test_unloadable_adapter_is_emulated_when_settings_say_so() -> None:
    table = AdapterTable(RuntimeSettings(emulate_missing_backends=True),
                         {Backend.CSM_SAGEMAKER: "voice_runtime.adapters.absent:Nope"})
    adapter = table.get(Backend.CSM_SAGEMAKER)
    assert isinstance(adapter, EmulatedAdapter) and adapter.name == "csm_sagemaker(emulated)"
    assert table.emulated(Backend.CSM_SAGEMAKER) is adapter


def test_lazy_import_path_is_constructed_with_the_settings() -> None:
    settings = RuntimeSettings()
    table = AdapterTable(settings, {Backend.ECHO: "voice_runtime.adapters.echo:EchoAdapter"})
    adapter = table.get(Backend.ECHO)
    assert isinstance(adapter, EchoAdapter) and adapter.settings is settings
    assert table.get(Backend.ECHO) is adapter  # one instance per backend kind


def test_forced_emulation_and_per_backend_settings() -> None:
    slow = EmulatedBackendSettings(latency_p50_ms=800)
    table = AdapterTable(RuntimeSettings(emulated_per_backend={Backend.NOVA_SONIC: slow}),
                         emulated={Backend.NOVA_SONIC})
    adapter = table.emulated(Backend.NOVA_SONIC)
    assert adapter is not None and adapter.settings.latency_p50_ms == 800
    assert table.loaded() == {"nova_sonic": "nova_sonic(emulated)"}


async def test_table_closes_its_adapters() -> None:
    table = AdapterTable(RuntimeSettings())
    table.get(Backend.ECHO)
    await table.aclose()
    assert table.loaded() == {}
    await asyncio.sleep(0)
