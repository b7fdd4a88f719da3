"""The WebSocket protocol over real connections: turns, barge-in, heartbeat, idle timeout, retries, variants."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from emulators.inprocess import EmulatedAdapter, EmulatedBackendSettings
from registry.compiled import CompiledRegistry
from registry.live_state import DeprecationRecord, param_deprecation
from registry.model import Backend
from tests.eventually import eventually
from tests.voice_runtime.support import BASELINE, NS, RUNBOOK, namespace_values
from tests.voice_runtime.wsclient import (
    FAST,
    FRAME,
    connect,
    open_session,
    recv_json,
    running,
    turn,
    until_turn_end,
    url,
)
from voice_runtime.metrics import BARGE_IN, SESSION_ERROR, TTFA

SLOW_REPLY = EmulatedBackendSettings(latency="fixed", latency_p50_ms=5, reply_seconds=5, chunk_ms=20, realtime=True)


async def test_full_turn_external_subject_gets_baseline_with_timings_and_metrics(compiled: CompiledRegistry) -> None:
    async with running(compiled) as (server, sink), connect(url(server)) as ws:
        session = await open_session(ws, "user-1", sdk_version="2.3.0")
        assert session["type"] == "session" and session["input"]["sample_rate"] == 16000
        messages, audio = await turn(ws, frames=10)
        start, *_, end = messages
        assert start["type"] == "turn_start" and start["variant"] == BASELINE and start["turn"] == 1
        assert start["registry"]["phase"] == "Phase1_Week1" and start["registry"]["stale"] is False
        assert end["reason"] == "end_turn" and end["variant"] == BASELINE and not end["retried_on_baseline"]
        assert len(audio) == int(FAST.reply_seconds * 24_000) * 2
        timings = end["timings"]
        assert timings["audio_in_ms"] == 200 and timings["audio_out_ms"] == 300
        assert timings["ttfa_ms"] is not None and timings["ttfa_ms"] >= timings["model_latency_ms"] >= 0
        assert [s.variant for s in sink.samples if s.name == TTFA] == [BASELINE]
        assert sink.values(SESSION_ERROR, BASELINE) == [0.0]


async def test_internal_subject_gets_ws_echo_and_hears_itself_at_24khz(compiled: CompiledRegistry) -> None:
    async with running(compiled) as (server, _), connect(url(server)) as ws:
        assert (await open_session(ws, "dev-1", internal=True))["internal"] is True
        tone = bytes(range(0, 200, 2)) * 64  # 6400 bytes = 200 ms
        messages, audio = await turn(ws, frames=1, frame=tone)
        assert messages[0]["variant"] == "ws-echo" and messages[0]["backend"] == "echo"
        assert len(audio) == len(tone) * 3 // 2


async def test_output_frames_respect_the_frame_limit(compiled: CompiledRegistry) -> None:
    async with running(compiled, max_output_frame_bytes=1000) as (server, _), connect(url(server)) as ws:
        await open_session(ws)
        for _ in range(5):
            await ws.send(FRAME)
        await ws.send(json.dumps({"type": "end_turn"}))
        sizes = []
        while True:
            message = await ws.recv()
            if isinstance(message, bytes):
                sizes.append(len(message))
            elif json.loads(message)["type"] == "turn_end":
                break
        assert sizes and max(sizes) <= 1000 and sum(sizes) == int(FAST.reply_seconds * 48_000)


async def test_several_turns_and_ping_pong_in_one_session(compiled: CompiledRegistry) -> None:
    async with running(compiled) as (server, _), connect(url(server)) as ws:
        await open_session(ws)
        for index in (1, 2, 3):
            messages, _ = await turn(ws)
            assert messages[-1]["turn"] == index
        await ws.send(json.dumps({"type": "ping", "id": 42}))
        assert await recv_json(ws) == {"type": "pong", "id": 42}


async def test_barge_in_stops_output_tells_backend_and_next_turn_is_clean(compiled: CompiledRegistry) -> None:
    async with running(compiled, emulated_settings=SLOW_REPLY) as (server, sink), connect(url(server)) as ws:
        await open_session(ws)
        for _ in range(3):
            await ws.send(FRAME)
        await ws.send(json.dumps({"type": "end_turn"}))
        assert (await recv_json(ws))["type"] == "turn_start"
        while not isinstance(await ws.recv(), bytes):  # wait until the reply is playing
            pass
        await ws.send(json.dumps({"type": "barge_in"}))
        messages, audio_after_barge = await until_turn_end(ws)
        end = messages[-1]
        assert end["reason"] == "interrupted"
        assert end["barge_in"]["backend_stopped"] is True and end["barge_in"]["stop_ms"] >= 0
        assert len(audio_after_barge) < 5 * 48_000 // 2  # far less than the 5 s reply
        assert sink.values(BARGE_IN, BASELINE) == [1.0]
        # The next turn starts cleanly: its first message is its own turn_start, no stray audio in between.
        for _ in range(3):
            await ws.send(FRAME)
        await ws.send(json.dumps({"type": "end_turn"}))
        first = await ws.recv()
        assert isinstance(first, str) and json.loads(first)["type"] == "turn_start"
        assert json.loads(first)["turn"] == 2


async def test_audio_after_barge_in_becomes_the_next_turn(compiled: CompiledRegistry) -> None:
    async with running(compiled, emulated_settings=SLOW_REPLY) as (server, _), connect(url(server)) as ws:
        await open_session(ws)
        await ws.send(FRAME)
        await ws.send(json.dumps({"type": "end_turn"}))
        while not isinstance(await ws.recv(), bytes):
            pass
        # The user talks over the reply: barge_in, then their next utterance, all at once.
        await ws.send(json.dumps({"type": "barge_in"}))
        for _ in range(4):
            await ws.send(FRAME)
        await ws.send(json.dumps({"type": "end_turn"}))
        first, _ = await until_turn_end(ws)
        assert first[-1]["reason"] == "interrupted"
        second = await recv_json(ws)
        assert second["type"] == "turn_start" and second["turn"] == 2
        await ws.send(json.dumps({"type": "barge_in"}))  # cut the second reply short too
        messages, _ = await until_turn_end(ws)
        assert messages[-1]["timings"]["audio_in_ms"] == 80


async def test_backend_failure_is_retried_once_on_the_baseline(compiled: CompiledRegistry) -> None:
    failing = EmulatedBackendSettings(latency="fixed", latency_p50_ms=1, failure_rate=1.0)
    async with (running(compiled, phase="Phase4_Week7", per_backend={Backend.NOVA_SONIC: failing}) as (server, sink),
                connect(url(server)) as ws):
        await open_session(ws)
        messages, audio = await turn(ws)
        assert messages[0]["variant"] == "sonic-unified"
        end = messages[-1]
        assert end["retried_on_baseline"] is True and end["variant"] == BASELINE and end["reason"] == "end_turn"
        assert audio
        assert sink.values(SESSION_ERROR, "sonic-unified") == [1.0]
        assert sink.values(SESSION_ERROR, BASELINE) == [0.0]
        # the session goes on
        messages, _ = await turn(ws)
        assert messages[-1]["turn"] == 2


async def test_failure_on_baseline_too_is_an_error_frame_and_the_session_goes_on(compiled: CompiledRegistry) -> None:
    failing = EmulatedBackendSettings(latency="fixed", latency_p50_ms=1, failure_rate=1.0)
    async with running(compiled, emulated_settings=failing) as (server, _), connect(url(server)) as ws:
        await open_session(ws)
        messages, audio = await turn(ws)
        assert [m["code"] for m in messages if m["type"] == "error"] == ["backend_error"]
        assert messages[-1]["reason"] == "error" and audio == b""
        await ws.send(json.dumps({"type": "ping", "id": 1}))
        assert (await recv_json(ws))["type"] == "pong"


async def test_unavailable_backend_without_emulation_falls_back_to_baseline(compiled: CompiledRegistry) -> None:
    """csm_sagemaker is not emulated here and its adapter is not loadable: the turn is served by the baseline."""
    values = namespace_values(compiled, "Phase1_Week1")
    async with running(compiled, values=values, emulated=frozenset({Backend.M1_PIPELINE})) as (server, _):
        server.adapters.register(Backend.CSM_SAGEMAKER, "voice_runtime.adapters.no_such_module:Nope")
        values.update(namespace_values(compiled, "PathB_CSM_Internal"))
        await server.registry.refresh()
        async with connect(url(server)) as ws:
            await open_session(ws, internal=True)
            messages, audio = await turn(ws)
            assert messages[0]["variant"] == "sesame-csm1b"
            assert messages[-1]["variant"] == BASELINE and messages[-1]["retried_on_baseline"] and audio


async def test_a_revert_reaches_the_next_turn_of_a_live_session(compiled: CompiledRegistry) -> None:
    values = namespace_values(compiled, "Phase4_Week7")
    async with running(compiled, values=values) as (server, _), connect(url(server)) as ws:
        await open_session(ws)
        first, _ = await turn(ws)
        assert first[0]["variant"] == "sonic-unified"
        values["/silentinfinity/voice/variant_overrides"] = RUNBOOK
        await server.registry.refresh()
        second, _ = await turn(ws)
        assert second[0]["variant"] == BASELINE and second[0]["backend"] == "m1_pipeline"


async def test_no_registry_at_all_serves_the_fallback_baseline(compiled: CompiledRegistry) -> None:
    def broken() -> dict[str, str]:
        raise ConnectionError("SSM down")

    async with running(compiled, fetch=broken) as (server, _), connect(url(server)) as ws:
        await open_session(ws)
        messages, audio = await turn(ws)
        assert messages[0]["variant"] == BASELINE and messages[0]["registry"]["stale"] is True
        assert messages[-1]["reason"] == "end_turn" and audio


async def test_idle_timeout_closes_with_4000(compiled: CompiledRegistry) -> None:
    async with running(compiled, idle_timeout_seconds=0.2) as (server, _), connect(url(server)) as ws:
        await open_session(ws)
        with pytest.raises(ConnectionClosed):
            while True:
                await ws.recv()
        assert ws.close_code == 4000


async def test_idle_timeout_does_not_cut_a_reply(compiled: CompiledRegistry) -> None:
    reply = EmulatedBackendSettings(latency="fixed", latency_p50_ms=5, reply_seconds=0.6, chunk_ms=50)
    async with (
        running(compiled, idle_timeout_seconds=0.2, emulated_settings=reply) as (server, _),
        connect(url(server)) as ws,
    ):
        await open_session(ws)
        messages, audio = await turn(ws)
        assert messages[-1]["reason"] == "end_turn" and len(audio) == int(0.6 * 48_000)


async def test_heartbeat_keeps_a_responsive_client_connected(compiled: CompiledRegistry) -> None:
    async with (
        running(compiled, heartbeat_seconds=0.05, ping_timeout_seconds=0.5) as (server, _),
        connect(url(server), ping_interval=None) as ws,
    ):
        await open_session(ws)
        await asyncio.sleep(0.4)  # several server pings, answered by the client library
        messages, _ = await turn(ws)
        assert messages[-1]["reason"] == "end_turn"


async def test_heartbeat_drops_a_client_that_never_answers_pings(compiled: CompiledRegistry) -> None:
    async with running(compiled, heartbeat_seconds=0.05, ping_timeout_seconds=0.1) as (server, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        await writer.drain()
        assert b"101" in await reader.readuntil(b"\r\n\r\n")
        assert len(server.sessions) == 1
        rest = await asyncio.wait_for(reader.read(), 5)  # pings, then a close; EOF when the server drops us
        assert rest  # the server sent frames (pings/close) and then ended the connection
        # the server waits up to its close timeout (2 s) for our close frame
        await eventually(lambda: not server.sessions, what="the unresponsive client to be dropped")
        writer.close()


async def test_http_health_static_files_and_latency_knob(compiled: CompiledRegistry, tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<h1>voice</h1>")
    async with running(compiled, web_dir=tmp_path) as (server, _):
        base = f"http://127.0.0.1:{server.port}"

        def get(path: str) -> tuple[int, bytes]:
            try:
                with urllib.request.urlopen(base + path, timeout=5) as r:
                    return r.status, r.read()
            except urllib.error.HTTPError as e:
                return e.code, e.read()

        status, body = await asyncio.to_thread(get, "/")
        assert status == 200 and body == b"<h1>voice</h1>"
        status, body = await asyncio.to_thread(get, "/healthz")
        assert status == 200 and json.loads(body)["registry"]["phase"] == "Phase1_Week1"
        status, _ = await asyncio.to_thread(get, "/../../etc/passwd")
        assert status == 404
        status, body = await asyncio.to_thread(get, "/admin/emulated?backend=nova_sonic&p50_ms=900&p95_ms=1500")
        assert status == 200 and json.loads(body)["settings"]["latency_p50_ms"] == 900
        adapter = server.adapters.get(Backend.NOVA_SONIC)
        assert isinstance(adapter, EmulatedAdapter) and adapter.settings.latency_p95_ms == 1500
        status, _ = await asyncio.to_thread(get, "/admin/emulated?backend=bogus")
        assert status == 400


async def test_a_client_silent_in_the_middle_of_its_utterance_is_idle(compiled: CompiledRegistry) -> None:
    async with running(compiled, idle_timeout_seconds=0.2) as (server, _), connect(url(server)) as ws:
        await open_session(ws)
        await ws.send(FRAME)  # starts a turn, then never ends it
        assert (await recv_json(ws))["type"] == "turn_start"
        with pytest.raises(ConnectionClosed):
            while True:
                await ws.recv()
        assert ws.close_code == 4000
    assert server.sessions == {}


async def test_legacy_sse_path_answers_410_gone_with_upgrade_once_the_sse_variant_is_deprecated(
    compiled: CompiledRegistry,
) -> None:
    # GIVEN the baseline (the only SSE variant) live; WHEN decommission deprecates it; THEN its old SSE endpoint
    # tells clients to move to the WebSocket (memo Phase 4, step 5).
    values = namespace_values(compiled, "Phase1_Week1")
    async with running(compiled, fetch=lambda: dict(values)) as (server, _):
        base = f"http://127.0.0.1:{server.port}"

        def get(path: str) -> tuple[int, dict[str, object], str]:
            try:
                with urllib.request.urlopen(base + path, timeout=5) as r:
                    return r.status, json.loads(r.read()), r.headers.get("Link", "")
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read()), e.headers.get("Link", "")

        status, body, _ = await asyncio.to_thread(get, "/sse")
        assert status == 404 and body["sse_variants"] == ["transcribe-polly-baseline"]
        record = DeprecationRecord(variant="transcribe-polly-baseline", at=datetime(2026, 6, 1, tzinfo=UTC))
        values[param_deprecation(NS, "transcribe-polly-baseline")] = record.model_dump_json()
        await server.registry.refresh()
        status, body, link = await asyncio.to_thread(get, "/voice/sse")
        assert status == 410 and body["error"] == "gone" and body["variant"] == "transcribe-polly-baseline"
        upgrade = body["upgrade"]
        assert isinstance(upgrade, dict) and upgrade["transport"] == "websocket"
        assert upgrade["url"] == f"ws://127.0.0.1:{server.port}/ws" and 'rel="alternate"' in link
