"""Hypothesis-driven sessions of mixed valid and invalid actions; whatever the client does, the server's output
keeps the protocol's invariants: turns are paired and numbered in order, audio only flows inside a turn, and
nothing follows a fatal error."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed

from emulators.inprocess import EmulatedBackendSettings
from registry.compiled import CompiledRegistry
from tests.eventually import eventually
from tests.voice_runtime.wsclient import BARRIER, FRAME, connect, running, url

REPLY = EmulatedBackendSettings(latency="fixed", latency_p50_ms=2, reply_seconds=0.2, chunk_ms=20, realtime=True)

actions = st.lists(
    st.sampled_from(["audio", "audio", "audio", "end_turn", "end_turn", "barge_in", "ping", "garbage", "odd_audio",
                     "pause"]),
    max_size=25,
)


def check_invariants(output: list[Any]) -> None:
    current: int | None = None
    expected_next = 1
    fatal_seen = False
    for item in output:
        assert not fatal_seen, f"output after a fatal error: {item!r}"
        if isinstance(item, bytes):
            assert current is not None, "audio outside a turn"
            continue
        kind = item["type"]
        if kind == "turn_start":
            assert current is None, "a turn started before the previous one ended"
            assert item["turn"] == expected_next
            current = item["turn"]
        elif kind == "turn_end":
            assert item["turn"] == current, "turn_end for another turn"
            assert item["reason"] in {"end_turn", "interrupted", "error"}
            current, expected_next = None, expected_next + 1
        elif kind == "transcript":
            assert current is not None and item["turn_id"].endswith(f"-{current}")
        elif kind == "error":
            fatal_seen = item["fatal"]


async def _session(compiled: CompiledRegistry, script: list[str]) -> list[Any]:
    async with running(compiled, emulated_settings=REPLY) as (server, _):
        output: list[Any] = []
        async with connect(url(server)) as ws:

            handled = asyncio.Event()  # the session answered the barrier ping: it has handled everything before

            async def reader() -> None:
                try:
                    while True:
                        message = await ws.recv()
                        item = message if isinstance(message, bytes) else json.loads(message)
                        if item == BARRIER:
                            handled.set()
                        else:
                            output.append(item)
                except ConnectionClosed:
                    handled.set()

            task = asyncio.get_running_loop().create_task(reader())
            await ws.send(json.dumps({"type": "start", "subject": "fuzz"}))
            try:
                for action in script:
                    if action == "audio":
                        await ws.send(FRAME)
                    elif action == "odd_audio":
                        await ws.send(b"\x00")
                    elif action == "garbage":
                        await ws.send("{]")
                    elif action == "pause":
                        await asyncio.sleep(0.05)
                    else:
                        await ws.send(json.dumps({"type": action}))
                await ws.send(json.dumps({"type": "end_turn"}))  # finish a turn left listening, if any
            except ConnectionClosed:
                pass
            def settled() -> bool:  # every turn in flight has finished and its frames have left the server
                session = next(iter(server.sessions.values()), None)
                return session is None or (session.turn is None and len(session.outbox) == 0)

            await eventually(settled, what="the turns in flight to finish")
            with contextlib.suppress(ConnectionClosed):
                await ws.send(json.dumps({"type": "ping", "id": "barrier"}))
            await asyncio.wait_for(handled.wait(), 10)
            await ws.close()
            await task
        check_invariants(output)
        assert output[0]["type"] == "session"
        return output


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=actions)
def test_any_action_sequence_keeps_the_protocol_invariants(compiled: CompiledRegistry, script: list[str]) -> None:
    asyncio.run(asyncio.wait_for(_session(compiled, script), 30))


def test_the_invariant_check_sees_real_turns(compiled: CompiledRegistry) -> None:
    script = ["audio", "audio", "end_turn", "pause", "barge_in", "audio", "end_turn", "pause", "garbage"]
    output = asyncio.run(asyncio.wait_for(_session(compiled, script), 30))
    ends = [m for m in output if isinstance(m, dict) and m["type"] == "turn_end"]
    assert len(ends) == 2 and any(isinstance(m, bytes) for m in output)


def test_the_invariant_check_catches_audio_outside_a_turn() -> None:
    import pytest

    with pytest.raises(AssertionError, match="audio outside a turn"):
        check_invariants([{"type": "session"}, b"\x00\x00"])
