"""Bad input never harms other sessions or the process: each case gets an error frame or a close code, and a
bystander session keeps completing turns throughout."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from emulators.inprocess import EmulatedBackendSettings
from registry.compiled import CompiledRegistry
from tests.eventually import eventually
from tests.voice_runtime.wsclient import (
    FRAME,
    barrier,
    connect,
    open_session,
    recv_json,
    running,
    turn,
    url,
)
from voice_runtime.server import VoiceServer


async def bystander_still_served(server: VoiceServer) -> None:
    async with connect(url(server)) as ws:
        await open_session(ws, "bystander")
        messages, audio = await turn(ws)
        assert messages[-1]["reason"] == "end_turn" and audio


async def closed_with(ws: ClientConnection) -> int | None:
    with pytest.raises(ConnectionClosed):
        for _ in range(100):
            await asyncio.wait_for(ws.recv(), 5)
    return ws.close_code


START = json.dumps({"type": "start", "subject": "u"})
Case = Callable[[ClientConnection], Awaitable[None]]


def sends(*frames: str | bytes, start: bool = True) -> Case:
    async def run(ws: ClientConnection) -> None:
        if start:
            await ws.send(START)
            assert (await recv_json(ws))["type"] == "session"
        for frame in frames:
            await ws.send(frame)

    return run


NON_FATAL = [
    pytest.param(sends("{not json"), "invalid_json", id="invalid-json"),
    pytest.param(sends("[1, 2]"), "invalid_json", id="json-not-an-object"),
    pytest.param(sends('{"type": "dance"}'), "unknown_type", id="unknown-type"),
    pytest.param(sends('{"no": "type"}'), "unknown_type", id="missing-type"),
    pytest.param(sends('{"type": "end_turn"}'), "wrong_order", id="end-turn-without-audio"),
    pytest.param(sends('{"type": "barge_in"}'), "wrong_order", id="barge-in-while-idle"),
    pytest.param(sends(START), "wrong_order", id="second-start"),
    pytest.param(sends(b"\x01\x02\x03"), "invalid_audio", id="odd-sized-binary"),
    pytest.param(sends("[" * 100_00 + "]" * 100_00), "invalid_json", id="deeply-nested-json"),
]


@pytest.mark.parametrize(("case", "code"), NON_FATAL)
async def test_non_fatal_bad_input_gets_an_error_frame_and_the_session_goes_on(
    compiled: CompiledRegistry, case: Case, code: str
) -> None:
    async with running(compiled) as (server, _):
        async with connect(url(server)) as ws:
            await case(ws)
            error = await recv_json(ws)
            assert error["type"] == "error" and error["code"] == code and error["fatal"] is False
            messages, audio = await turn(ws)  # the same session still works
            assert messages[-1]["reason"] == "end_turn" and audio
        await bystander_still_served(server)


FATAL = [
    pytest.param(sends('{"type": "end_turn"}', start=False), "wrong_order", 1008, id="no-start-first"),
    pytest.param(sends(FRAME, start=False), "wrong_order", 1008, id="audio-before-start"),
    pytest.param(sends('{"type": "start"}', start=False), "invalid_message", 1008, id="start-without-subject"),
    pytest.param(sends('{"type": "start", "subject": "u", "sdk_version": "2.x"}', start=False), "invalid_message",
                 1008, id="start-bad-sdk-version"),
    pytest.param(sends('{"type": "start", "subject": ""}', start=False), "invalid_message", 1008,
                 id="start-empty-subject"),
]


@pytest.mark.parametrize(("case", "code", "close"), FATAL)
async def test_fatal_bad_input_gets_an_error_frame_then_a_close_code(
    compiled: CompiledRegistry, case: Case, code: str, close: int
) -> None:
    async with running(compiled) as (server, _):
        async with connect(url(server)) as ws:
            await case(ws)
            error = await recv_json(ws)
            assert error["code"] == code and error["fatal"] is True
            assert await closed_with(ws) == close
        await bystander_still_served(server)


@pytest.mark.parametrize(
    ("frame", "close"),
    [
        pytest.param(bytes(40_000), 1009, id="oversize-binary"),
        pytest.param("x" * 40_000, 1009, id="oversize-text"),
    ],
)
async def test_oversize_messages_close_with_1009(compiled: CompiledRegistry, frame: str | bytes, close: int) -> None:
    async with running(compiled) as (server, _):
        async with connect(url(server), max_size=None) as ws:
            await open_session(ws)
            await ws.send(frame)
            assert await closed_with(ws) == close
        await bystander_still_served(server)


async def test_invalid_utf8_text_frame_closes_with_1007(compiled: CompiledRegistry) -> None:
    async with running(compiled) as (server, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        await reader.readuntil(b"\r\n\r\n")
        payload = b"\xff\xfe\xfd"
        mask = b"\x00\x00\x00\x00"
        writer.write(bytes([0x81, 0x80 | len(payload)]) + mask + payload)  # FIN + text, masked, invalid UTF-8
        await writer.drain()
        frame = await asyncio.wait_for(reader.read(4), 5)
        assert frame[0] == 0x88 and int.from_bytes(frame[2:4], "big") == 1007  # a close frame with 1007
        writer.close()
        await bystander_still_served(server)


async def test_bad_token_for_internal_session_is_refused(compiled: CompiledRegistry) -> None:
    async with running(compiled, internal_token="s3cret") as (server, _):
        async with connect(url(server)) as ws:
            await ws.send(json.dumps({"type": "start", "subject": "u", "internal": True, "token": "guess"}))
            assert (await recv_json(ws))["code"] == "unauthorized"
            assert await closed_with(ws) == 1008
        async with connect(url(server)) as ws:
            session = await open_session(ws, "dev", internal=True, token="s3cret")
            assert session["internal"] is True


async def test_too_many_errors_closes_the_session(compiled: CompiledRegistry) -> None:
    async with running(compiled, max_errors=5) as (server, _):
        async with connect(url(server)) as ws:
            await open_session(ws)
            for _ in range(6):
                await ws.send("nope")
            codes = []
            with pytest.raises(ConnectionClosed):
                while True:
                    codes.append(json.loads(await asyncio.wait_for(ws.recv(), 5))["code"])
            assert codes[-1] == "too_many_errors" and ws.close_code == 1008
        await bystander_still_served(server)


async def test_audio_while_replying_without_barge_in_is_refused(compiled: CompiledRegistry) -> None:
    slow = EmulatedBackendSettings(latency="fixed", latency_p50_ms=5, reply_seconds=1, chunk_ms=20)
    async with running(compiled, emulated_settings=slow) as (server, _), connect(url(server)) as ws:
        await open_session(ws)
        await ws.send(FRAME)
        await ws.send(json.dumps({"type": "end_turn"}))
        while not isinstance(await ws.recv(), bytes):
            pass
        await ws.send(FRAME)
        error = await recv_json(ws)
        assert error["code"] == "wrong_order" and error["turn_id"]


async def test_turn_too_long_is_ended_by_the_server(compiled: CompiledRegistry) -> None:
    async with running(compiled, max_turn_seconds=0.1) as (server, _), connect(url(server)) as ws:
        await open_session(ws)
        for _ in range(6):  # 120 ms
            await ws.send(FRAME)
        messages = []
        while not messages or messages[-1]["type"] != "turn_end":
            messages.append(await recv_json(ws))
        assert "turn_too_long" in [m.get("code") for m in messages]
        assert messages[-1]["reason"] == "end_turn"


async def test_client_that_stops_reading_is_cut_off_and_others_are_served(compiled: CompiledRegistry) -> None:
    endless = EmulatedBackendSettings(latency="fixed", latency_p50_ms=1, reply_seconds=60, chunk_ms=1000,
                                      realtime=False)
    async with running(compiled, emulated_settings=endless, send_queue_frames=4, send_timeout_seconds=0.3) as (
        server, _,
    ):
        # Small kernel buffers on both ends (accepted sockets inherit the listener's) and max_queue=1: the client
        # library stops reading the socket almost at once, so the server's sends block.
        assert server.server is not None
        server.server.sockets[0].setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", server.port))
        sock.setblocking(False)
        stuck = await connect(url(server), max_queue=1, max_size=None, sock=sock)
        await stuck.send(START)
        await stuck.send(FRAME)
        await stuck.send(json.dumps({"type": "end_turn"}))
        await bystander_still_served(server)
        await eventually(lambda: not server.sessions, what="the stuck client to be cut off")
        await bystander_still_served(server)
        stuck.transport.abort()


frames = st.one_of(
    st.binary(max_size=2048),
    st.text(max_size=200),
    st.sampled_from(['{"type":"end_turn"}', '{"type":"barge_in"}', '{"type":"ping"}', START,
                     '{"type":"start","subject":"x","internal":true}', '{"type":null}', "null", "1e999"]),
    st.fixed_dictionaries({"type": st.sampled_from(["start", "end_turn", "barge_in", "ping", "x"])},
                          optional={"subject": st.text(max_size=200), "internal": st.booleans() | st.integers(),
                                    "sdk_version": st.text(max_size=10), "id": st.integers()}).map(json.dumps),
)


async def _fuzz(compiled: CompiledRegistry, script: list[Any]) -> None:
    async with running(compiled) as (server, _):
        try:
            async with connect(url(server)) as ws:
                for frame in script:
                    await ws.send(frame)
                await asyncio.wait_for(barrier(ws), 10)  # the server has handled every fuzzed frame
        except ConnectionClosed as exc:
            assert exc.rcvd is None or exc.rcvd.code in {1000, 1007, 1008, 1009}
        await bystander_still_served(server)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=st.lists(frames, max_size=12))
def test_fuzzed_frames_never_harm_the_server(compiled: CompiledRegistry, script: list[Any]) -> None:
    asyncio.run(asyncio.wait_for(_fuzz(compiled, script), 30))


async def test_concurrent_good_sessions_unaffected_by_misbehaving_ones(compiled: CompiledRegistry) -> None:
    async def good(server: VoiceServer, i: int) -> list[str]:
        async with connect(url(server)) as ws:
            await open_session(ws, f"good-{i}")
            return [(await turn(ws))[0][-1]["reason"] for _ in range(3)]

    async def bad(server: VoiceServer, i: int) -> None:
        ws = await connect(url(server), max_size=None)
        kind = i % 4
        with contextlib.suppress(ConnectionClosed):
            if kind == 0:
                await ws.send(bytes(40_000))  # oversize
            elif kind == 1:
                await ws.send("{garbage")  # before start: fatal
            elif kind == 2:
                await ws.send(START)
                await ws.send(FRAME)  # abandons its turn mid-utterance
            else:
                await ws.send(START)
                await ws.send(FRAME)
                await ws.send(json.dumps({"type": "end_turn"}))  # leaves mid-reply
            await asyncio.sleep(0.01)
        ws.transport.abort()

    async with running(compiled) as (server, _):
        results = await asyncio.gather(*[good(server, i) for i in range(20)], *[bad(server, i) for i in range(12)])
        assert results[:20] == [["end_turn"] * 3] * 20
        await eventually(lambda: not server.sessions, what="every session to be let go")
        assert server.connections_total == 32


async def test_after_a_fatal_error_further_input_is_ignored(compiled: CompiledRegistry) -> None:
    async with running(compiled) as (server, _), connect(url(server)) as ws:
        await ws.send('{"type":"end_turn"}')  # fatal: no start first
        for _ in range(5):
            await ws.send("{garbage")
        received = []
        with pytest.raises(ConnectionClosed):
            while True:
                received.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
        assert [m["code"] for m in received] == ["wrong_order"] and ws.close_code == 1008


async def test_a_flood_of_tiny_frames_ends_the_turn(compiled: CompiledRegistry) -> None:
    async with running(compiled, max_turn_seconds=0.5) as (server, _), connect(url(server)) as ws:
        await open_session(ws)
        for _ in range(60):  # 2-byte frames: far under the byte bound, over 100 frames per second of turn
            await ws.send(b"\x00\x00")
        messages = []
        while not messages or messages[-1]["type"] != "turn_end":
            messages.append(await recv_json(ws))
        assert "turn_too_long" in [m.get("code") for m in messages]


async def test_sessions_beyond_the_limit_are_refused_at_the_handshake(compiled: CompiledRegistry) -> None:
    from websockets.exceptions import InvalidStatus

    async with running(compiled, max_sessions=2) as (server, _):
        async with connect(url(server)) as a, connect(url(server)) as b:
            await open_session(a, "a")
            await open_session(b, "b")
            with pytest.raises(InvalidStatus) as info:
                await connect(url(server))
            assert info.value.response.status_code == 503
            messages, _ = await turn(a)  # the admitted sessions are unaffected
            assert messages[-1]["reason"] == "end_turn"
        # a freed slot is usable again once the server has let go of the session
        await eventually(lambda: not server.sessions, what="the closed sessions to be let go")
        await bystander_still_served(server)
