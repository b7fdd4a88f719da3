"""The runtime's own adapter (echo) and the adapter table's lazy loading and replacement entries."""

from __future__ import annotations

import asyncio
from array import array
from collections.abc import AsyncIterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from emulators.inprocess import EmulatedAdapter, EmulatedBackendSettings, emulated_factories
from registry.compiled import CompiledVariant
from registry.model import Backend
from voice_runtime.adapters.base import AudioChunk, BackendError, BackendEvent, SessionContext, TurnEnd
from voice_runtime.adapters.echo import EchoAdapter, Resampler, resample_16k_to_24k
from voice_runtime.adapters.table import AdapterTable
from voice_runtime.settings import RuntimeSettings


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


# --- table -----------------------------------------------------------------------------------------------------------

def test_unloadable_adapter_is_a_backend_error_without_emulation() -> None:
    table = AdapterTable(RuntimeSettings(), {Backend.NOVA_SONIC: "voice_runtime.adapters.absent:Nope"})
    with pytest.raises(BackendError) as info:
        table.get(Backend.NOVA_SONIC)
    assert info.value.code == "backend_unavailable" and Backend.NOVA_SONIC in table.load_errors


def test_given_factories_replace_built_in_entries_and_keep_the_others() -> None:
    table = AdapterTable(RuntimeSettings(), emulated_factories(backends=[Backend.CSM_SAGEMAKER]))
    adapter = table.get(Backend.CSM_SAGEMAKER)
    assert isinstance(adapter, EmulatedAdapter) and adapter.name == "csm_sagemaker(emulated)"
    assert isinstance(table.get(Backend.ECHO), EchoAdapter)


def test_lazy_import_path_is_constructed_with_the_settings() -> None:
    settings = RuntimeSettings()
    table = AdapterTable(settings, {Backend.ECHO: "voice_runtime.adapters.echo:EchoAdapter"})
    adapter = table.get(Backend.ECHO)
    assert isinstance(adapter, EchoAdapter) and adapter.settings is settings
    assert table.get(Backend.ECHO) is adapter  # one instance per backend kind


def test_per_backend_emulated_settings_and_a_registered_replacement() -> None:
    slow = EmulatedBackendSettings(latency_p50_ms=800)
    table = AdapterTable(RuntimeSettings(),
                         emulated_factories({Backend.NOVA_SONIC: slow}, backends=[Backend.NOVA_SONIC]))
    adapter = table.get(Backend.NOVA_SONIC)
    assert isinstance(adapter, EmulatedAdapter) and adapter.settings.latency_p50_ms == 800
    assert table.loaded() == {"nova_sonic": "nova_sonic(emulated)"}
    table.register(Backend.NOVA_SONIC, "voice_runtime.adapters.echo:EchoAdapter")
    assert isinstance(table.get(Backend.NOVA_SONIC), EchoAdapter)


async def test_table_closes_its_adapters() -> None:
    table = AdapterTable(RuntimeSettings())
    table.get(Backend.ECHO)
    await table.aclose()
    assert table.loaded() == {}
    await asyncio.sleep(0)
