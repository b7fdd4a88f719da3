"""The Nova Sonic relay through the real aws_sdk_bedrock_runtime client against the local HTTP/2 TLS emulator."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from emulators.audio import voiced_pcm
from emulators.behaviour import Fault
from emulators.server import EmulatorServer
from registry.compiled import CompiledRegistry
from tests.voice_runtime.adapters.conftest import context, speech
from voice_runtime.adapters.base import AudioChunk, BackendError, BackendEvent, Transcript, TurnEnd, Usage
from voice_runtime.adapters.nova_sonic import NovaSonicAdapter, handover_due
from voice_runtime.adapters.tools import Tool, ToolBox, date_and_time_tool
from voice_runtime.turns import AudioFeed

VARIANT = "sonic-unified"


async def collect(session, frames: int = 5) -> list[BackendEvent]:  # type: ignore[no-untyped-def]
    return [event async for event in session.run_turn(speech(frames))]


async def test_turns_complete_with_audio_transcripts_and_usage(
        settings: SimpleNamespace, emulators: EmulatorServer, compiled: CompiledRegistry) -> None:
    adapter = NovaSonicAdapter(settings)
    session = await adapter.open_session(context(compiled, VARIANT))
    try:
        for _ in range(2):
            events = await collect(session)
            audio = b"".join(e.pcm for e in events if isinstance(e, AudioChunk))
            assert len(audio) == 24_000 * 2 * 400 // 1000  # the emulator's 400 ms reply, every byte relayed
            assert events[-1] == TurnEnd("END_TURN")
            roles = {(e.role, e.final) for e in events if isinstance(e, Transcript)}
            assert {("user", True), ("assistant", False), ("assistant", True)} <= roles
            assert any(isinstance(e, Usage) and e.output_tokens > 0 for e in events)
    finally:
        await session.close()
        await adapter.aclose()
    log = emulators.emulators.nova.streams[0]
    assert log.violation is None
    assert log.system_prompt == "You are the Silent Infinity voice."
    assert log.names[:6] == ["sessionStart", "promptStart", "contentStart", "textInput", "contentEnd", "contentStart"]
    assert log.names[-3:] == ["contentEnd", "promptEnd", "sessionEnd"]
    assert set(log.names[6:-3]) == {"audioInput"}


async def test_the_pause_rides_with_the_last_frame_when_the_end_of_the_turn_is_known(
        settings: SimpleNamespace, emulators: EmulatorServer, compiled: CompiledRegistry) -> None:
    adapter = NovaSonicAdapter(settings)
    session = await adapter.open_session(context(compiled, VARIANT))
    frame = voiced_pcm(20, 16_000)
    feed = AudioFeed()
    for _ in range(5):
        feed.append(frame)
    feed.close()  # the runtime's feed: the end of turn is known when the last frame is read
    try:
        known = [event async for event in session.run_turn(feed.reader())]
        plain = await collect(session)  # a plain iterator: the end is known only after the last frame
    finally:
        await session.close()
        await adapter.aclose()
    assert known[-1] == plain[-1] == TurnEnd("END_TURN")
    silence = 32 * adapter.settings.nova_end_pause_ms  # the whole pause the model waits for, sent at once
    assert emulators.emulators.nova.streams[0].end_heard_in == [len(frame) + silence, silence]


async def test_barge_in_ends_the_turn_as_interrupted_and_the_next_turn_works(
        settings: SimpleNamespace, emulators: EmulatorServer, compiled: CompiledRegistry) -> None:
    emulators.emulators.nova.behaviour.reply_audio_ms = 3000
    adapter = NovaSonicAdapter(settings)
    session = await adapter.open_session(context(compiled, VARIANT))
    try:
        seen: list[BackendEvent] = []
        async for event in session.run_turn(speech()):
            seen.append(event)
            if isinstance(event, AudioChunk) and len(seen) < 50:
                await session.barge_in()
        assert seen[-1] == TurnEnd("INTERRUPTED")
        assert sum(isinstance(e, AudioChunk) for e in seen) == 1  # nothing relayed after the barge-in
        events = await collect(session)
        assert events[-1].__class__ is TurnEnd
        assert any(isinstance(e, AudioChunk) for e in events)
    finally:
        await session.close()
        await adapter.aclose()


@pytest.mark.parametrize(("fault", "code"), [
    pytest.param(Fault.MODEL_TIMEOUT, "model_timeout", id="model-timeout"),
    pytest.param(Fault.STREAM_ERROR, "stream_error", id="mid-stream-error"),
    pytest.param(Fault.STALL, "timeout", id="stalled-reply-times-out"),
])
async def test_stream_failures_fail_the_turn_retryably_and_the_next_turn_gets_a_fresh_stream(
        settings: SimpleNamespace, emulators: EmulatorServer, compiled: CompiledRegistry, fault: Fault,
        code: str) -> None:
    emulators.emulators.nova.behaviour.inject(fault)
    settings.turn_timeout_seconds = 1.0
    adapter = NovaSonicAdapter(settings)
    session = await adapter.open_session(context(compiled, VARIANT))
    try:
        with pytest.raises(BackendError) as caught:
            await collect(session)
        assert caught.value.retryable
        assert caught.value.code == code
        events = await collect(session)
        assert events[-1] == TurnEnd("END_TURN")
        assert len(emulators.emulators.nova.streams) == 2
    finally:
        await session.close()
        await adapter.aclose()


async def test_throttling_on_connect_is_a_retryable_backend_error(
        settings: SimpleNamespace, emulators: EmulatorServer, compiled: CompiledRegistry) -> None:
    emulators.emulators.nova.behaviour.inject(Fault.THROTTLE)
    adapter = NovaSonicAdapter(settings)
    try:
        with pytest.raises(BackendError) as caught:
            await adapter.open_session(context(compiled, VARIANT))
        assert caught.value.retryable and caught.value.code == "throttled"
    finally:
        await adapter.aclose()


async def test_a_stream_near_the_8_minute_limit_is_handed_to_a_fresh_one_with_the_transcript(
        settings: SimpleNamespace, emulators: EmulatorServer, compiled: CompiledRegistry, clock) -> None:  # type: ignore[no-untyped-def]
    adapter = NovaSonicAdapter(settings, clock=clock)
    session = await adapter.open_session(context(compiled, VARIANT))
    try:
        await collect(session)
        clock.advance(7 * 60 + 1)
        events = await collect(session)
        assert events[-1] == TurnEnd("END_TURN")
    finally:
        await session.close()
        await adapter.aclose()
    first, second = emulators.emulators.nova.streams
    assert first.names[-3:] == ["contentEnd", "promptEnd", "sessionEnd"]
    text_blocks = second.names[: second.names.index("audioInput")].count("textInput")
    assert text_blocks >= 3  # system prompt + the first turn's user and assistant lines


def test_handover_is_due_before_eight_minutes() -> None:
    assert not handover_due(0.0, 419.9, 420.0)
    assert handover_due(0.0, 420.0, 420.0)


async def test_silence_flows_fast_while_a_reply_is_due_and_sparsely_when_idle(
        settings: SimpleNamespace, emulators: EmulatorServer, compiled: CompiledRegistry) -> None:
    pauses: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        pauses.append(seconds)
        await asyncio.sleep(0)  # no wall time passes: just let the turn make progress

    settings.nova_silence_interval_ms, settings.nova_idle_keepalive_ms = 160, 1000
    adapter = NovaSonicAdapter(settings, sleep=fake_sleep)
    session = await adapter.open_session(context(compiled, VARIANT))
    try:
        await collect(session)
        idle_from = len(pauses)
        while len(pauses) < idle_from + 3:
            await asyncio.sleep(0)
    finally:
        await session.close()
        await adapter.aclose()
    assert 0.16 in pauses[:idle_from]  # while the reply was due
    assert pauses[idle_from + 1:idle_from + 3] == [1.0, 1.0]  # idle between turns
    log = emulators.emulators.nova.streams[0]
    assert log.audio_frames > 6  # 5 speech frames, the end-of-turn silence, and keep-alive silence


async def test_the_interrupted_reply_still_streaming_does_not_leak_into_the_next_turn(
        settings: SimpleNamespace, emulators: EmulatorServer, compiled: CompiledRegistry) -> None:
    behaviour = emulators.emulators.nova.behaviour
    behaviour.reply_audio_ms, behaviour.pace_audio = 2000, True  # the old reply is still streaming...
    adapter = NovaSonicAdapter(settings)
    session = await adapter.open_session(context(compiled, VARIANT))
    try:
        async for event in session.run_turn(speech()):
            if isinstance(event, AudioChunk):
                await session.barge_in()
        behaviour.reply_audio_ms = 200
        events = await collect(session)  # ...when the user's next utterance arrives
        log = emulators.emulators.nova.streams[0]
        assert log.interruptions == 1  # the model saw the barge-in and sent its INTERRUPTED signals
        assert events[-1] == TurnEnd("END_TURN")  # which were not taken as this turn's end
        audio = b"".join(e.pcm for e in events if isinstance(e, AudioChunk))
        assert len(audio) == 24_000 * 2 * 200 // 1000  # exactly the new reply: nothing of the interrupted one
    finally:
        await session.close()
        await adapter.aclose()


async def turns_then_close(adapter: NovaSonicAdapter, compiled: CompiledRegistry,
                           turns: int) -> list[list[BackendEvent]]:
    """`turns` turns on one session of `adapter`, then the session and the adapter closed."""
    session = await adapter.open_session(context(compiled, VARIANT))
    try:
        return [await collect(session) for _ in range(turns)]
    finally:
        await session.close()
        await adapter.aclose()


async def test_a_tool_the_model_asks_for_is_run_and_answered_mid_turn(
        settings: SimpleNamespace, emulators: EmulatorServer, compiled: CompiledRegistry) -> None:
    emulators.emulators.nova.behaviour.tool_every = 2  # the second turn asks for a tool
    clock = date_and_time_tool(lambda: datetime(2026, 11, 25, 18, 41, tzinfo=UTC))
    first, second = await turns_then_close(NovaSonicAdapter(settings, tools=ToolBox([clock])), compiled, 2)
    log = emulators.emulators.nova.streams[0]
    assert log.violation is None and log.tools_offered == ["getDateAndTimeTool"]
    [(use_id, result)] = log.tool_results
    assert json.loads(result)["date"] == "2026-11-25" and use_id
    start = log.names.index("toolResult") - 1
    assert log.names[start:start + 3] == ["contentStart", "toolResult", "contentEnd"]
    for events in (first, second):
        assert events[-1] == TurnEnd("END_TURN") and any(isinstance(e, AudioChunk) for e in events)
    said = [e.text for e in second if isinstance(e, Transcript) and e.role == "assistant" and e.final]
    assert said and "2026-11-25" in said[0]


async def test_a_failing_tool_is_answered_with_an_error_result_and_the_turn_still_completes(
        settings: SimpleNamespace, emulators: EmulatorServer, compiled: CompiledRegistry) -> None:
    emulators.emulators.nova.behaviour.tool_every = 1

    def lookup(_: dict[str, object]) -> None:
        raise ConnectionError("knowledge base unreachable")

    tools = ToolBox([Tool("lookupTool", "Look it up", {"type": "object"}, lookup)])
    [events] = await turns_then_close(NovaSonicAdapter(settings, tools=tools), compiled, 1)
    [(_, result)] = emulators.emulators.nova.streams[0].tool_results
    assert json.loads(result) == {"error": "lookupTool failed: ConnectionError: knowledge base unreachable"}
    assert events[-1] == TurnEnd("END_TURN") and any(isinstance(e, AudioChunk) for e in events)


async def test_no_tools_offered_means_no_tool_turns(
        settings: SimpleNamespace, emulators: EmulatorServer, compiled: CompiledRegistry) -> None:
    emulators.emulators.nova.behaviour.tool_every = 1
    [events] = await turns_then_close(NovaSonicAdapter(settings), compiled, 1)
    log = emulators.emulators.nova.streams[0]
    assert log.tools_offered == [] and log.tool_results == [] and "toolResult" not in log.names
    assert events[-1] == TurnEnd("END_TURN")


async def test_the_emulator_reports_its_turns_and_how_late_it_answered(
        settings: SimpleNamespace, emulators: EmulatorServer, compiled: CompiledRegistry) -> None:
    import ssl
    import urllib.request

    await turns_then_close(NovaSonicAdapter(settings), compiled, 2)

    def stats() -> dict[str, dict[str, object]]:
        context = ssl.create_default_context(cafile=str(emulators.cert.cert_file))
        with urllib.request.urlopen(f"{emulators.url}/_emulator/stats", context=context, timeout=10) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]

    nova = (await asyncio.to_thread(stats))["nova"]
    lateness = nova["lateness_ms"]
    assert nova["turns"] == 2 and isinstance(lateness, list) and len(lateness) == 2
    assert all(-1.5 < x < 1_000 for x in lateness)  # never more than the 1 ms timer lead early
