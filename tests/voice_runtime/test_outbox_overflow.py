"""A session whose outgoing queue overflows on control frames closes at once with 4001 (docs/protocol.md).

Before: the overflow was noted (`closing` set) but nothing was queued to close the connection and every later frame
was ignored, so the session went silent until the idle timeout (114 s in issue 17) instead of closing.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.exceptions import ConnectionClosed

from registry.compiled import CompiledRegistry
from tests.voice_runtime.support import NS, FakeClock, namespace_values
from tests.voice_runtime.wsclient import connect, open_session, running, url
from voice_runtime.adapters.table import AdapterTable
from voice_runtime.metrics import InMemorySink
from voice_runtime.outbox import CONTROL_SLACK
from voice_runtime.protocol import CloseCode
from voice_runtime.registry_client import RegistryClient
from voice_runtime.session import VoiceSession
from voice_runtime.settings import RuntimeSettings


def session_for(compiled: CompiledRegistry, clock: FakeClock, queue: int) -> VoiceSession:
    settings = RuntimeSettings(send_queue_frames=queue)
    values = namespace_values(compiled, "Phase1_Week1")
    registry = RegistryClient(lambda: values, namespace=NS, fallback_baseline=compiled.baseline, clock=clock)
    return VoiceSession(settings=settings, registry=registry, adapters=AdapterTable(settings), metrics=InMemorySink(),
                        clock=clock)


async def test_overflow_on_control_frames_queues_the_close(compiled: CompiledRegistry, clock: FakeClock) -> None:
    session = session_for(compiled, clock, queue=4)
    session.on_text(json.dumps({"type": "start", "subject": "u1"}))
    for i in range(200):  # 200 pings answered by nobody reading: far past 4 + CONTROL_SLACK queued frames
        session.on_text(json.dumps({"type": "ping", "id": i}))
    sent: list[str | bytes] = []

    async def send(data: str | bytes) -> None:
        sent.append(data)

    close = await asyncio.wait_for(session.pump(send), 5)
    assert close == (CloseCode.SLOW_CONSUMER, "slow consumer")
    assert len(sent) <= 4 + CONTROL_SLACK  # what was queued before the overflow, nothing after it


async def test_a_ping_flood_nobody_reads_is_closed_with_4001_not_left_silent(compiled: CompiledRegistry) -> None:
    async with running(compiled, send_queue_frames=4) as (server, _), connect(url(server), max_queue=None) as ws:
        await open_session(ws)
        # The client floods pings without reading one answer, then reads: it must see the close, promptly.
        await asyncio.gather(*(ws.send(json.dumps({"type": "ping", "id": i})) for i in range(3000)))
        with pytest.raises(ConnectionClosed):
            async with asyncio.timeout(20):
                while True:
                    await ws.recv()
        assert ws.close_code == CloseCode.SLOW_CONSUMER
        assert server.sessions == {} or all(s.closing for s in server.sessions.values())
