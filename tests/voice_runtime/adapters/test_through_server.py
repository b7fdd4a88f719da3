"""Turns through the runtime's WebSocket server with the real adapters against the emulators: each variant's
backend, barge-in, and a Nova Sonic failure retried on the M1 baseline."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace

import pytest
from websockets.asyncio.client import connect

from emulators.audio import voiced_pcm
from emulators.behaviour import Fault
from emulators.server import EmulatorServer
from registry.compiled import CompiledRegistry
from registry.model import Backend
from tests.voice_runtime.support import BASELINE, NS, namespace_values
from tests.voice_runtime.wsclient import open_session, recv_json, until_turn_end
from voice_runtime.adapters.csm_sagemaker import CsmSageMakerAdapter
from voice_runtime.adapters.echo import EchoAdapter
from voice_runtime.adapters.m1_pipeline import M1PipelineAdapter
from voice_runtime.adapters.nova_sonic import NovaSonicAdapter
from voice_runtime.adapters.table import AdapterTable
from voice_runtime.metrics import InMemorySink
from voice_runtime.registry_client import RegistryClient
from voice_runtime.server import VoiceServer
from voice_runtime.settings import RuntimeSettings

SPEECH = voiced_pcm(20, 16_000)


@asynccontextmanager
async def relay(compiled: CompiledRegistry, phase: str, backend_settings: SimpleNamespace
                ) -> AsyncIterator[tuple[VoiceServer, InMemorySink]]:
    settings = RuntimeSettings(port=0)
    values = namespace_values(compiled, phase)
    registry = RegistryClient(lambda: values, namespace=NS, fallback_baseline=BASELINE)
    table = AdapterTable(settings, factories={
        Backend.ECHO: EchoAdapter,
        Backend.NOVA_SONIC: lambda _: NovaSonicAdapter(backend_settings),
        Backend.M1_PIPELINE: lambda _: M1PipelineAdapter(backend_settings),
        Backend.CSM_SAGEMAKER: lambda _: CsmSageMakerAdapter(backend_settings),
    })
    sink = InMemorySink()
    server = VoiceServer(settings, registry=registry, adapters=table, metrics=sink)
    await server.start()
    try:
        yield server, sink
    finally:
        await server.stop()


def ws_url(server: VoiceServer) -> str:
    return f"ws://127.0.0.1:{server.port}/ws"


async def speak(ws, frames: int = 5) -> None:  # type: ignore[no-untyped-def]
    for _ in range(frames):
        await ws.send(SPEECH)
    await ws.send(json.dumps({"type": "end_turn"}))


@pytest.mark.parametrize(("phase", "internal", "variant"), [
    pytest.param("Phase1_Week1", False, "transcribe-polly-baseline", id="m1"),
    pytest.param("Phase2_Week2", True, "sonic-unified", id="nova-sonic"),
    pytest.param("PathB_CSM_Internal", True, "sesame-csm1b", id="csm"),
])
async def test_each_variant_completes_turns_through_the_relay(
        compiled: CompiledRegistry, settings: SimpleNamespace, emulators: EmulatorServer, phase: str,
        internal: bool, variant: str) -> None:
    async with relay(compiled, phase, settings) as (server, _), connect(ws_url(server)) as ws:
        await open_session(ws, "user-7", internal=internal)
        for index in (1, 2):
            await speak(ws)
            messages, audio = await until_turn_end(ws)
            end = messages[-1]
            assert (end["variant"], end["reason"], end["turn"]) == (variant, "end_turn", index)
            assert not end["retried_on_baseline"]
            assert len(audio) >= 19_200 and len(audio) % 2 == 0  # at least the 400 ms reply at 24 kHz
            assert end["timings"]["ttfa_ms"] is not None


async def test_barge_in_through_the_relay_interrupts_nova_sonic(
        compiled: CompiledRegistry, settings: SimpleNamespace, emulators: EmulatorServer) -> None:
    emulators.emulators.nova.behaviour.reply_audio_ms = 5000
    async with relay(compiled, "Phase2_Week2", settings) as (server, _), connect(ws_url(server)) as ws:
        await open_session(ws, "user-7", internal=True)
        await speak(ws)
        assert (await recv_json(ws))["type"] == "turn_start"
        while not isinstance(await ws.recv(), bytes):
            pass
        await ws.send(json.dumps({"type": "barge_in"}))
        messages, audio = await until_turn_end(ws)
        assert messages[-1]["reason"] == "interrupted"
        assert messages[-1]["barge_in"]["backend_stopped"] is True
        assert len(audio) < 5 * 48_000 // 2
        emulators.emulators.nova.behaviour.reply_audio_ms = 400
        await speak(ws)
        messages, _ = await until_turn_end(ws)
        assert messages[-1]["reason"] == "end_turn" and messages[-1]["variant"] == "sonic-unified"


async def test_a_nova_sonic_failure_before_any_audio_is_retried_on_the_m1_baseline(
        compiled: CompiledRegistry, settings: SimpleNamespace, emulators: EmulatorServer) -> None:
    async with relay(compiled, "Phase2_Week2", settings) as (server, _), connect(ws_url(server)) as ws:
        await open_session(ws, "user-7", internal=True)
        emulators.emulators.nova.behaviour.inject(Fault.MODEL_TIMEOUT)
        await speak(ws)
        messages, audio = await until_turn_end(ws)
        end = messages[-1]
        assert end["retried_on_baseline"] is True and end["variant"] == BASELINE and end["reason"] == "end_turn"
        assert audio
        await speak(ws)  # the session recovers: the next turn is Nova Sonic's again, on a fresh stream
        messages, _ = await until_turn_end(ws)
        assert messages[-1]["variant"] == "sonic-unified" and not messages[-1]["retried_on_baseline"]
        assert len(emulators.emulators.nova.streams) == 2


async def test_a_mid_reply_nova_sonic_error_ends_the_turn_and_the_next_turn_recovers(
        compiled: CompiledRegistry, settings: SimpleNamespace, emulators: EmulatorServer) -> None:
    async with relay(compiled, "Phase2_Week2", settings) as (server, _), connect(ws_url(server)) as ws:
        await open_session(ws, "user-7", internal=True)
        emulators.emulators.nova.behaviour.inject(Fault.STREAM_ERROR)
        await speak(ws)
        messages, audio = await until_turn_end(ws)
        # Half the reply was already played, so the runtime does not replay the turn on the baseline.
        assert audio and not messages[-1]["retried_on_baseline"] and messages[-1]["reason"] != "end_turn"
        await speak(ws)
        messages, _ = await until_turn_end(ws)
        assert messages[-1]["variant"] == "sonic-unified" and messages[-1]["reason"] == "end_turn"


async def test_a_nova_sonic_tool_call_is_answered_inside_the_turn_the_caller_hears(
        compiled: CompiledRegistry, settings: SimpleNamespace, emulators: EmulatorServer) -> None:
    settings.nova_tools = ["getDateAndTimeTool"]  # as `backends.nova_tools` in the runtime's settings
    emulators.emulators.nova.behaviour.tool_every = 1
    async with relay(compiled, "Phase2_Week2", settings) as (server, _), connect(ws_url(server)) as ws:
        await open_session(ws, "user-7", internal=True)
        await speak(ws)
        messages, audio = await until_turn_end(ws)
    assert messages[-1]["reason"] == "end_turn" and messages[-1]["variant"] == "sonic-unified" and audio
    [(_, result)] = emulators.emulators.nova.streams[0].tool_results
    assert json.loads(result)["timezone"] == "UTC"
    said = [m["text"] for m in messages if m["type"] == "transcript" and m["role"] == "assistant" and m["final"]]
    assert said and said[0].startswith("I looked that up:")


@pytest.mark.parametrize("order", [pytest.param("played", id="final-text-after-audio-end-turn"),
                                   pytest.param("early", id="final-text-before-audio-end-turn")])
async def test_each_turns_final_transcript_arrives_before_its_turn_end_in_either_order(
        compiled: CompiledRegistry, settings: SimpleNamespace, emulators: EmulatorServer, order: str) -> None:
    emulators.emulators.nova.behaviour.final_text = order
    async with relay(compiled, "Phase2_Week2", settings) as (server, _), connect(ws_url(server)) as ws:
        await open_session(ws, "user-7", internal=True)
        for index in (1, 2, 3):
            await speak(ws)
            messages, _ = await until_turn_end(ws)
            turn_id = messages[-1]["turn_id"]
            said = [m for m in messages if m["type"] == "transcript" and m["role"] == "assistant"]
            planned = [m["text"] for m in said if not m["final"]]
            assert [m["text"] for m in said if m["final"]] == planned and len(planned) == 2  # both, as spoken
            assert {m["turn_id"] for m in said} == {turn_id}  # nothing of this turn left for the next
            assert messages[-1]["turn"] == index and messages[-1]["reason"] == "end_turn"
