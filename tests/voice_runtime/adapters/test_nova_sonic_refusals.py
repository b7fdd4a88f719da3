"""Malformed input through the real SDK: the emulator answers with the documented ValidationException on the
stream within a second, ends that stream, and keeps serving the others on the same HTTP/2 connection."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aws_sdk_bedrock_runtime.models import (
    BidirectionalInputPayloadPart,
    InvokeModelWithBidirectionalStreamInputChunk,
    InvokeModelWithBidirectionalStreamOperationInput,
    ValidationException,
)

from emulators.server import EmulatorServer
from registry.compiled import CompiledRegistry
from tests.voice_runtime.adapters.conftest import context, speech
from voice_runtime.adapters.base import TurnEnd
from voice_runtime.adapters.nova_sonic import NovaSonicAdapter

OPENING: list[dict[str, Any]] = json.loads(
    (Path(__file__).resolve().parents[2] / "fixtures" / "nova_sonic" / "input_sequence.json").read_text())


def with_voice(voice: str) -> list[bytes]:
    events = copy.deepcopy(OPENING[:2])
    events[1]["event"]["promptStart"]["audioOutputConfiguration"]["voiceId"] = voice
    return [json.dumps(e).encode() for e in events]


def encoded(events: list[dict[str, Any]]) -> list[bytes]:
    return [json.dumps(e).encode() for e in events]


AUDIO = {"event": {"audioInput": {"promptName": "P", "contentName": "A", "content": "AAAA"}}}


@pytest.mark.parametrize(("model_id", "payloads"), [
    pytest.param("amazon.nova-sonic-v1:0", [b"{not json"], id="bad-json"),
    pytest.param("amazon.nova-sonic-v1:0", encoded([{"event": {"sessionStop": {}}}]), id="unknown-event"),
    pytest.param("amazon.nova-sonic-v1:0", encoded([OPENING[1]]), id="missing-session-start"),
    pytest.param("amazon.nova-sonic-v1:0", encoded([*OPENING[:5], AUDIO]), id="audio-outside-its-block"),
    pytest.param("amazon.nova-sonic-v1:0", encoded([*OPENING[:2], {"event": {"promptEnd": {"promptName": "Q"}}}]),
                 id="wrong-prompt-name"),
    pytest.param("amazon.nova-sonic-v1:0", encoded([*OPENING[:2], OPENING[1]]), id="second-prompt-start"),
    pytest.param("amazon.nova-sonic-v1:0", with_voice("brian"), id="unknown-voice"),
    pytest.param("amazon.nova-sonic-v7:0", encoded(OPENING[:1]), id="unknown-model"),
])
async def test_refused_within_a_second_while_other_streams_keep_serving(
        settings: SimpleNamespace, emulators: EmulatorServer, compiled: CompiledRegistry, model_id: str,
        payloads: list[bytes]) -> None:
    adapter = NovaSonicAdapter({**vars(settings), "crt_connections": 1})  # one connection: the bad stream's too
    session = await adapter.open_session(context(compiled, "sonic-unified"))
    try:
        client = await adapter.client()
        stream = await client.invoke_model_with_bidirectional_stream(
            InvokeModelWithBidirectionalStreamOperationInput(model_id=model_id))
        loop = asyncio.get_running_loop()
        sent = loop.time()
        for payload in payloads:
            await stream.input_stream.send(InvokeModelWithBidirectionalStreamInputChunk(
                value=BidirectionalInputPayloadPart(bytes_=payload)))
        _, receiver = await asyncio.wait_for(stream.await_output(), 1.0)
        with pytest.raises(ValidationException):
            await asyncio.wait_for(receiver.receive(), 1.0)
        assert loop.time() - sent < 1.0
        await stream.input_stream.close()
        events = [e async for e in session.run_turn(speech())]  # the healthy stream on the same connection
        assert events[-1] == TurnEnd("END_TURN")
    finally:
        await session.close()
        await adapter.aclose()
    violations = [s.violation for s in emulators.emulators.nova.streams]
    assert violations[0] is None and violations[1] is not None  # the session's stream, then the refused one
