"""VoiceSession without sockets: TTFA as the memo defines it (fake clock), metrics per attempt, barge-in timing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from registry.compiled import CompiledRegistry
from registry.model import Backend
from tests.eventually import eventually
from tests.voice_runtime.support import BASELINE, NS, FakeClock, namespace_values
from voice_runtime.adapters.base import AudioChunk, BackendError, BackendEvent, SessionContext, TurnEnd
from voice_runtime.adapters.table import AdapterTable
from voice_runtime.metrics import MODEL_LATENCY, SESSION_ERROR, TTFA, InMemorySink
from voice_runtime.registry_client import RegistryClient
from voice_runtime.session import VoiceSession
from voice_runtime.settings import RuntimeSettings


class ScriptedSession:
    """A backend whose reply waits for the test's go-ahead, so the test controls the clock between events;
    `thinking` is set once it has read the whole utterance and waits for that go-ahead."""

    def __init__(self, go: asyncio.Event, thinking: asyncio.Event | None = None) -> None:
        self.go = go
        self.thinking = thinking or asyncio.Event()
        self.barged = False

    async def run_turn(self, audio: AsyncIterator[bytes]) -> AsyncIterator[BackendEvent]:
        async for _ in audio:
            pass
        self.thinking.set()
        await self.go.wait()
        yield AudioChunk(bytes(4800))
        yield AudioChunk(bytes(4800))
        yield TurnEnd()

    async def barge_in(self) -> None:
        self.barged = True

    async def close(self) -> None:
        return None


class ScriptedAdapter:
    name = "scripted"

    def __init__(self, go: asyncio.Event) -> None:
        self.go = go
        self.thinking = asyncio.Event()  # a session of this adapter is waiting for `go`
        self.opened: list[SessionContext] = []

    async def open_session(self, ctx: SessionContext) -> ScriptedSession:
        self.opened.append(ctx)
        return ScriptedSession(self.go, self.thinking)

    async def aclose(self) -> None:
        return None


async def _setup(compiled: CompiledRegistry, clock: FakeClock, phase: str = "Phase1_Week1",
                 sonic: Any = None) -> tuple[VoiceSession, ScriptedAdapter, InMemorySink]:
    go = asyncio.Event()
    adapter = ScriptedAdapter(go)
    settings = RuntimeSettings()
    values = namespace_values(compiled, phase)
    registry = RegistryClient(lambda: values, namespace=NS, fallback_baseline=BASELINE, clock=clock)
    await registry.refresh()
    table = AdapterTable(settings, {Backend.M1_PIPELINE: lambda s: adapter, Backend.NOVA_SONIC: lambda s: sonic})
    sink = InMemorySink()
    session = VoiceSession(settings=settings, registry=registry, adapters=table, metrics=sink, clock=clock,
                           wall=lambda: 1_700_000_000.0, session_id="s1")
    return session, adapter, sink


async def test_ttfa_counts_from_the_last_user_audio_frame_not_from_end_turn(
    compiled: CompiledRegistry, clock: FakeClock
) -> None:
    session, adapter, sink = await _setup(compiled, clock)
    sent: list[Any] = []

    async def send(data: str | bytes) -> None:
        sent.append(data)

    pump = asyncio.get_running_loop().create_task(session.pump(send))
    session.on_text(json.dumps({"type": "start", "subject": "u1"}))
    session.on_binary(bytes(640))
    clock.advance(0.02)
    session.on_binary(bytes(640))  # the last user audio frame: t0
    clock.advance(0.5)  # the client's end-of-utterance detection takes 500 ms
    session.on_text('{"type":"end_turn"}')
    await asyncio.wait_for(adapter.thinking.wait(), 5)  # the backend has the whole utterance
    clock.advance(0.25)  # the model thinks for 250 ms
    adapter.go.set()
    end = json.loads(await eventually(lambda: next((m for m in sent if isinstance(m, str) and '"turn_end"' in m),
                                                   None), what="turn_end"))
    assert end["timings"]["ttfa_ms"] == 750.0  # 500 ms of end-of-turn detection + 250 ms of model
    assert end["timings"]["model_latency_ms"] == 250.0
    assert sink.values(TTFA, BASELINE) == [750.0]
    assert sink.values(MODEL_LATENCY, BASELINE) == [250.0]
    assert sink.values(SESSION_ERROR, BASELINE) == [0.0]
    assert [type(m) for m in sent].count(bytes) == 2
    assert adapter.opened[0].subject == "u1" and adapter.opened[0].variant == BASELINE
    pump.cancel()
    await session.aclose()


async def test_a_closed_connection_mid_turn_records_no_error(compiled: CompiledRegistry, clock: FakeClock) -> None:
    session, adapter, sink = await _setup(compiled, clock)
    session.on_text(json.dumps({"type": "start", "subject": "u1"}))
    session.on_binary(bytes(640))
    session.on_text('{"type":"end_turn"}')
    await asyncio.wait_for(adapter.thinking.wait(), 5)
    await session.aclose()  # the client went away while the backend was thinking
    assert sink.values(SESSION_ERROR) == []
    assert adapter.opened and not adapter.go.is_set(), "the close came mid-turn, before any reply"


class FailsMidReply(ScriptedSession):
    async def run_turn(self, audio: AsyncIterator[bytes]) -> AsyncIterator[BackendEvent]:
        async for _ in audio:
            pass
        yield AudioChunk(bytes(4800))
        raise BackendError("stream reset mid-reply")


async def test_failure_after_audio_was_produced_is_not_retried(compiled: CompiledRegistry, clock: FakeClock) -> None:
    """Even when the produced audio is still queued (not yet sent), a retry would make the user hear two replies."""
    class Failing(ScriptedAdapter):
        async def open_session(self, ctx: SessionContext) -> ScriptedSession:
            return FailsMidReply(self.go)

    session, baseline, sink = await _setup(compiled, clock, "Phase4_Week7", sonic=Failing(asyncio.Event()))
    session.on_text(json.dumps({"type": "start", "subject": "u1"}))
    session.on_binary(bytes(640))
    session.on_text('{"type":"end_turn"}')
    await eventually(lambda: session.turn is None, what="the failed turn to end")
    items = session.outbox.drain()
    end = next(i for i in items if i.kind == "turn_end")
    assert end.turn is not None and end.turn.variant == "sonic-unified"
    assert end.turn.reason == "error" and [a.variant for a in end.turn.attempts] == ["sonic-unified"]
    assert baseline.opened == []  # no retry on the baseline
    assert sink.values(SESSION_ERROR) == []  # recorded when turn_end is sent (finalize), not before
    session.finalize(end.turn)
    assert sink.values(SESSION_ERROR, "sonic-unified") == [1.0]
    await session.aclose()
