"""Drain and the session age limit in process: 1012 at the turn boundary, the drain deadline, no new sessions."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from emulators.inprocess import EmulatedBackendSettings
from registry.compiled import CompiledRegistry
from tests.voice_runtime.wsclient import FRAME, connect, open_session, recv_json, running, turn, until_turn_end, url
from voice_runtime.protocol import CloseCode

LONG_REPLY = EmulatedBackendSettings(latency="fixed", latency_p50_ms=5, reply_seconds=30, chunk_ms=20, realtime=True)


async def closed_with(ws: ClientConnection) -> int | None:
    with pytest.raises(ConnectionClosed):
        async with asyncio.timeout(10):
            while True:
                await ws.recv()
    return ws.close_code


async def start_reply(ws: ClientConnection) -> None:
    for _ in range(3):
        await ws.send(FRAME)
    await ws.send(json.dumps({"type": "end_turn"}))
    assert (await recv_json(ws))["type"] == "turn_start"


async def test_drain_closes_idle_sessions_at_once_and_refuses_new_ones(compiled: CompiledRegistry) -> None:
    async with running(compiled) as (server, _), connect(url(server)) as ws:
        await open_session(ws)
        cut = await server.drain(5)
        assert cut == 0 and server.sessions == {}
        assert await closed_with(ws) == CloseCode.SERVICE_RESTART
        assert ws.close_reason == "server restarting: reconnect"
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url(server)):
                pass
        assert refused.value.response.status_code == 503
        assert server.health()["draining"] is True and server.health()["ok"] is False


async def test_drain_deadline_closes_a_turn_that_would_not_end(compiled: CompiledRegistry) -> None:
    async with (running(compiled, emulated_settings=LONG_REPLY) as (server, _), connect(url(server)) as ws):
        await open_session(ws)
        await start_reply(ws)
        assert await server.drain(0.3) == 1  # a 30 s reply: cut at the drain deadline
        assert await closed_with(ws) == CloseCode.SERVICE_RESTART


async def test_a_session_past_its_age_limit_is_asked_to_reconnect_after_its_turn(compiled: CompiledRegistry) -> None:
    reply = EmulatedBackendSettings(latency="fixed", latency_p50_ms=5, reply_seconds=0.6, chunk_ms=20, realtime=True)
    async with (running(compiled, emulated_settings=reply, max_session_seconds=0.3) as (server, _),
                connect(url(server)) as ws):
        await open_session(ws)
        await start_reply(ws)  # the reply outlasts the age limit: it is heard to the end
        messages, audio = await until_turn_end(ws)
        assert messages[-1]["reason"] == "end_turn" and len(audio) == int(0.6 * 48_000)
        assert await closed_with(ws) == CloseCode.SERVICE_RESTART


async def test_an_idle_session_past_its_age_limit_is_closed_with_1012(compiled: CompiledRegistry) -> None:
    async with running(compiled, max_session_seconds=0.3) as (server, _), connect(url(server)) as ws:
        await open_session(ws)
        (await turn(ws))
        assert await closed_with(ws) == CloseCode.SERVICE_RESTART
