"""The Nova Sonic emulator as the service behaves (tests/fixtures/nova_sonic/SOURCES.md): what it refuses and how,
how it takes turns, the order it answers in, barge-in by playback time, usage, sample rates and its limits.

Driven at the stream level (`NovaSonicStream` with a recording wire) so that malformed input the SDK would never
produce can be sent; tests/voice_runtime/adapters drive it through the real SDK.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest
from smithy_aws_event_stream.events import Event

from emulators.audio import silence, voiced_pcm
from emulators.behaviour import Behaviour, Latency
from emulators.nova_sonic_server import NovaSonicStream, NovaStreamLog

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "nova_sonic"
OPENING: list[dict[str, Any]] = json.loads((FIXTURES / "input_sequence.json").read_text())


class Wire:
    """What the emulator writes to one response stream, decoded."""

    def __init__(self) -> None:
        self.data = b""

    async def send(self, data: bytes) -> None:
        self.data += data

    def messages(self) -> list[tuple[str, str, Any]]:
        out, source = [], io.BytesIO(self.data)
        while (event := Event.decode(source)) is not None:
            headers, payload = event.message.headers, event.message.payload
            kind = str(headers[":message-type"])
            if kind == "exception":
                out.append((kind, str(headers[":exception-type"]), json.loads(payload)))
            else:
                inner = json.loads(base64.b64decode(json.loads(payload)["bytes"]))
                ((name, body),) = inner["event"].items()
                out.append((kind, name, body))
        return out

    def exceptions(self) -> list[tuple[str, str]]:
        return [(name, body["message"]) for kind, name, body in self.messages() if kind == "exception"]

    def events(self, name: str) -> list[dict[str, Any]]:
        return [body for kind, n, body in self.messages() if kind == "event" and n == name]


def make_stream(behaviour: Behaviour | None = None, model: str = "amazon.nova-sonic-v1:0") -> tuple[NovaSonicStream,
                                                                                                    Wire]:
    wire = Wire()
    stream = NovaSonicStream(behaviour or Behaviour(latency=Latency(median_ms=1), reply_audio_ms=400), wire.send,
                             NovaStreamLog(), model)
    return stream, wire


def audio(pcm: bytes, content: str = "A") -> dict[str, Any]:
    return {"event": {"audioInput": {"promptName": "P", "contentName": content,
                                     "content": base64.b64encode(pcm).decode()}}}


async def opened(behaviour: Behaviour | None = None, opening: list[dict[str, Any]] | None = None,
                 model: str = "amazon.nova-sonic-v1:0") -> tuple[NovaSonicStream, Wire]:
    stream, wire = make_stream(behaviour, model)
    for event in opening or OPENING:
        await stream.on_input(copy.deepcopy(event))
    assert stream.log.violation is None, stream.log.violation
    return stream, wire


async def reply_done(stream: NovaSonicStream) -> None:
    assert stream._reply is not None
    await asyncio.wait_for(stream._reply, 10)


def edited(index: int, path: tuple[str, ...], value: Any) -> list[dict[str, Any]]:
    """The fixture's opening with one field changed (None: removed)."""
    events = copy.deepcopy(OPENING)
    target = next(iter(events[index]["event"].values()))
    for key in path[:-1]:
        target = target[key]
    if value is None:
        target.pop(path[-1])
    else:
        target[path[-1]] = value
    return events


SPEECH = voiced_pcm(500, 16_000)


@pytest.mark.parametrize(("inputs", "message"), [
    pytest.param([{"event": {"sessionBegin": {}}}], "unknown event type sessionBegin", id="unknown-event"),
    pytest.param([{"nope": 1}], "expected", id="not-an-event"),
    pytest.param([OPENING[1]], "sessionStart must come first", id="prompt-before-session"),
    pytest.param(edited(0, ("inferenceConfiguration",), None)[:1], "requires inferenceConfiguration",
                 id="missing-inference-configuration"),
    pytest.param(edited(1, ("audioOutputConfiguration",), None)[:2], "requires audioOutputConfiguration",
                 id="missing-audio-output-configuration"),
    pytest.param(edited(1, ("audioOutputConfiguration", "voiceId"), "brian")[:2], "unknown voiceId",
                 id="unknown-voice"),
    pytest.param(edited(1, ("audioOutputConfiguration", "sampleRateHertz"), 44_100)[:2], "sampleRateHertz",
                 id="unsupported-output-rate"),
    pytest.param([*OPENING[:2], OPENING[1]], "a second promptStart", id="second-prompt-start"),
    pytest.param([*OPENING[:2], {"event": {"contentStart": {**OPENING[2]["event"]["contentStart"],
                                                            "promptName": "other"}}}],
                 "not the open prompt", id="wrong-prompt-name"),
    pytest.param(edited(5, ("audioInputConfiguration",), None), "requires audioInputConfiguration",
                 id="audio-block-without-configuration"),
    pytest.param([*OPENING[:5], audio(SPEECH)], "not an open AUDIO content block", id="audio-outside-its-block"),
    pytest.param([*OPENING, audio(SPEECH, content="P-text-0")], "not an open AUDIO content block",
                 id="audio-into-a-closed-text-block"),
    pytest.param([*OPENING, {"event": {"audioInput": {"promptName": "P", "contentName": "A", "content": "@@@"}}}],
                 "not valid base64", id="bad-base64-audio"),
    pytest.param([*OPENING, {"event": {"sessionEnd": {}}}], "sessionEnd before promptEnd",
                 id="session-end-inside-the-prompt"),
    pytest.param(edited(0, ("turnDetectionConfiguration",), {"endpointingSensitivity": "FAST"})[:1],
                 "endpointingSensitivity", id="unknown-endpointing-sensitivity"),
])
async def test_malformed_or_out_of_order_input_gets_a_validation_exception_and_the_stream_ends(
        inputs: list[dict[str, Any]], message: str) -> None:
    stream, wire = make_stream()
    for event in inputs:
        await stream.on_input(copy.deepcopy(event))
    [(kind, text)] = wire.exceptions()
    assert kind == "validationException" and message in text
    assert stream.ended.is_set() and stream.failed
    await stream.on_input(copy.deepcopy(OPENING[0]))  # nothing more is read from a refused stream
    assert len(wire.exceptions()) == 1


@pytest.mark.parametrize(("event_type", "payload"), [
    pytest.param("chunk", b"{not json", id="chunk-not-json"),
    pytest.param("chunk", b'{"bytes": "***"}', id="chunk-bad-base64"),
    pytest.param("chunk", b'{"bytes": "' + base64.b64encode(b"not json") + b'"}', id="event-not-json"),
    pytest.param("audioChunk", b"{}", id="unknown-frame-event-type"),
])
async def test_frames_that_are_not_base64_json_chunks_are_refused(event_type: str, payload: bytes) -> None:
    stream, wire = make_stream()
    await stream.on_frame(event_type, payload)
    [(kind, _)] = wire.exceptions()
    assert kind == "validationException" and stream.ended.is_set()


def test_an_unknown_model_id_is_refused() -> None:
    from emulators.nova_sonic_rules import model_problem

    assert model_problem("amazon.nova-sonic-v1:0") is None and model_problem("amazon.nova-2-sonic-v1:0") is None
    assert "model identifier is invalid" in (model_problem("amazon.nova-sonic-v9:0") or "")


async def test_pauses_shorter_than_the_endpointing_pause_do_not_end_the_turn() -> None:
    stream, wire = await opened()
    for _ in range(6):  # words with 150 ms pauses between them: one turn, not six
        await stream.on_input(audio(SPEECH + silence(150, 16_000)))
    assert stream.log.end_heard_in == []
    await stream.on_input(audio(silence(1400, 16_000)))  # 1.55 s of pause in all: v1 gets the shortest, 1.5 s
    assert len(stream.log.end_heard_in) == 1
    await reply_done(stream)
    assert len(wire.events("completionStart")) == 1


@pytest.mark.parametrize(("sensitivity", "pause_ms"), [
    pytest.param("HIGH", 1500, id="high"), pytest.param("MEDIUM", 1750, id="medium"),
    pytest.param("LOW", 2000, id="low")])
async def test_nova_2_takes_its_pause_from_endpointing_sensitivity(sensitivity: str, pause_ms: int) -> None:
    opening = edited(0, ("turnDetectionConfiguration",), {"endpointingSensitivity": sensitivity})
    stream, _ = await opened(opening=opening, model="amazon.nova-2-sonic-v1:0")
    await stream.on_input(audio(SPEECH + silence(pause_ms - 40, 16_000)))
    assert stream.log.end_heard_in == []
    await stream.on_input(audio(silence(40, 16_000)))
    assert len(stream.log.end_heard_in) == 1
    await stream.finish()


def outline(wire: Wire) -> list[str]:
    """The output events as 'name TYPE STOP' (stage added for text blocks), skipping audio and usage."""
    out, stages = [], {}
    for kind, name, body in wire.messages():
        if kind != "event" or name in ("audioOutput", "usageEvent", "textOutput"):
            continue
        if name == "contentStart":
            stages[body["contentId"]] = json.loads(body.get("additionalModelFields", "{}")).get("generationStage", "")
        content = body.get("contentId", "")
        out.append(" ".join(x for x in (name, body.get("role", ""), body.get("type", ""),
                                        stages.get(content, "") if body.get("type") == "TEXT" else "",
                                        body.get("stopReason", "")) if x))
    return out


async def test_a_reply_comes_in_sentence_segments_with_the_last_audio_ending_before_the_last_final_text() -> None:
    stream, wire = await opened()
    await stream.on_input(audio(SPEECH + silence(1500, 16_000)))
    await reply_done(stream)
    assert outline(wire) == [
        "completionStart",
        "contentStart USER TEXT FINAL", "contentEnd USER TEXT FINAL END_TURN",
        "contentStart ASSISTANT TEXT SPECULATIVE", "contentEnd ASSISTANT TEXT SPECULATIVE PARTIAL_TURN",
        "contentStart ASSISTANT AUDIO", "contentEnd ASSISTANT AUDIO PARTIAL_TURN",
        "contentStart ASSISTANT TEXT SPECULATIVE", "contentEnd ASSISTANT TEXT SPECULATIVE PARTIAL_TURN",
        "contentStart ASSISTANT AUDIO", "contentEnd ASSISTANT AUDIO END_TURN",
        "contentStart ASSISTANT TEXT FINAL", "contentEnd ASSISTANT TEXT FINAL PARTIAL_TURN",
        "contentStart ASSISTANT TEXT FINAL", "contentEnd ASSISTANT TEXT FINAL END_TURN",
    ]
    speculative = [e["content"] for e in wire.events("textOutput")][1:3]
    assert [e["content"] for e in wire.events("textOutput")][3:] == speculative  # FINAL = what was spoken


async def test_the_final_text_waits_for_playback_time_even_when_the_audio_was_sent_in_a_burst() -> None:
    stream, _ = await opened(Behaviour(latency=Latency(median_ms=1), reply_audio_ms=600))
    loop = asyncio.get_running_loop()
    await stream.on_input(audio(SPEECH + silence(1500, 16_000)))
    started = loop.time()
    await reply_done(stream)
    assert loop.time() - started >= 0.6  # the whole reply was written at once, the last FINAL text after 600 ms


async def test_barge_in_while_a_burst_reply_is_still_playing_interrupts_it() -> None:
    stream, wire = await opened(Behaviour(latency=Latency(median_ms=1), reply_audio_ms=3000))
    await stream.on_input(audio(SPEECH + silence(1500, 16_000)))
    while not any("AUDIO END_TURN" in o for o in outline(wire)):  # every segment's audio is written at once:
        await asyncio.sleep(0.01)  # (polling the wire) generation is over
    await stream.on_input(audio(SPEECH))  # but 2.8 s of it is still unplayed when the user speaks
    assert stream.log.interruptions == 1
    tail = outline(wire)[-2:]
    assert tail == ["contentStart ASSISTANT TEXT FINAL", "contentEnd ASSISTANT TEXT FINAL INTERRUPTED"]
    assert wire.events("textOutput")[-1]["content"] == '{ "interrupted" : true }'
    assert [o for o in outline(wire) if o.endswith("FINAL END_TURN") and "ASSISTANT" in o] == []


async def test_barge_in_during_generation_ends_the_open_audio_block_interrupted() -> None:
    behaviour = Behaviour(latency=Latency(median_ms=1), reply_audio_ms=3000, pace_audio=True)
    stream, wire = await opened(behaviour)
    await stream.on_input(audio(SPEECH + silence(1500, 16_000)))
    while len(wire.events("audioOutput")) < 2:
        await asyncio.sleep(0.01)
    await stream.on_input(audio(SPEECH))
    assert "contentEnd ASSISTANT AUDIO INTERRUPTED" in outline(wire)
    assert outline(wire)[-1] == "contentEnd ASSISTANT TEXT FINAL INTERRUPTED"


async def test_usage_grows_with_the_audio_received_silence_included_and_reports_totals() -> None:
    stream, wire = await opened()
    await stream.on_input(audio(silence(4000, 16_000)))  # 4 s of silence: no turn, but tokens
    await stream.on_input(audio(SPEECH + silence(1500, 16_000)))
    await reply_done(stream)
    usage = wire.events("usageEvent")
    first = usage[0]["details"]
    assert first["delta"]["input"]["speechTokens"] == first["total"]["input"]["speechTokens"] == 150  # 6 s x 25
    last = usage[-1]
    total = last["details"]["total"]
    assert sum(u["details"]["delta"]["output"]["speechTokens"] for u in usage) == total["output"]["speechTokens"] == 10
    assert last["totalTokens"] == last["totalInputTokens"] + last["totalOutputTokens"]
    assert last["totalInputTokens"] == sum(total["input"].values())


@pytest.mark.parametrize("rate", [pytest.param(8_000, id="8k"), pytest.param(16_000, id="16k"),
                                  pytest.param(24_000, id="24k")])
async def test_the_requested_output_sample_rate_is_honoured(rate: int) -> None:
    stream, wire = await opened(opening=edited(1, ("audioOutputConfiguration", "sampleRateHertz"), rate))
    await stream.on_input(audio(SPEECH + silence(1500, 16_000)))
    await reply_done(stream)
    starts = [e for e in wire.events("contentStart") if e["type"] == "AUDIO"]
    assert {s["audioOutputConfiguration"]["sampleRateHertz"] for s in starts} == {rate}
    pcm = b"".join(base64.b64decode(e["content"]) for e in wire.events("audioOutput"))
    assert len(pcm) == rate * 2 * 400 // 1000


async def test_no_input_for_the_idle_timeout_ends_the_stream_with_a_model_timeout() -> None:
    stream, wire = await opened(Behaviour(idle_timeout_s=0.2))
    stream.start_timers()
    await asyncio.wait_for(stream.ended.wait(), 5)
    assert wire.exceptions() == [("modelTimeoutException", "Model has timed out in processing the request")]


async def test_input_keeps_the_stream_alive_until_its_time_limit() -> None:
    stream, wire = await opened(Behaviour(idle_timeout_s=0.3, stream_limit_s=1.0))
    stream.start_timers()
    loop = asyncio.get_running_loop()
    started = loop.time()
    while not stream.ended.is_set():  # keep-alive silence every 100 ms: never idle...
        await stream.on_input(audio(silence(100, 16_000)))
        await asyncio.sleep(0.1)
    assert loop.time() - started >= 0.9  # ...but the stream still ends at its limit
    assert [kind for kind, _ in wire.exceptions()] == ["modelTimeoutException"]
