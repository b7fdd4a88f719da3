"""M1's own transport: SSE frames of a turn, and 410 Gone with upgrade instructions once deprecated."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from typing import Any

from voice_runtime.adapters.base import AudioChunk, BackendEvent, Transcript, TurnEnd, Usage
from voice_runtime.adapters.m1_pipeline import gone_response, sse_frame, sse_turn_handler

WS = "wss://voice.example.com/ws"


def parse(frame: bytes) -> tuple[str, dict[str, Any]]:
    event_line, data_line, *_ = frame.decode().split("\n")
    return event_line.removeprefix("event: "), json.loads(data_line.removeprefix("data: "))


def test_sse_frames_carry_each_event_kind() -> None:
    assert parse(sse_frame(AudioChunk(b"\x01\x02"))) == ("audio", {"pcm": base64.b64encode(b"\x01\x02").decode(),
                                                                  "rate": 24000})
    assert parse(sse_frame(Transcript("user", "hi"))) == ("transcript", {"role": "user", "text": "hi", "final": True})
    assert parse(sse_frame(Usage(3, 4))) == ("usage", {"input_tokens": 3, "output_tokens": 4})
    assert parse(sse_frame(TurnEnd())) == ("turn_end", {"reason": "END_TURN"})
    assert sse_frame(TurnEnd()).endswith(b"\n\n")


def test_gone_names_the_variant_and_how_to_upgrade() -> None:
    status, headers, body = gone_response("transcribe-polly-baseline", WS)
    doc = json.loads(body)
    assert status == 410
    assert doc["variant"] == "transcribe-polly-baseline"
    assert doc["upgrade"]["transport"] == "websocket" and doc["upgrade"]["url"] == WS
    assert (b"link", f'<{WS}>; rel="alternate"'.encode()) in headers


class Recorder:
    def __init__(self, body: bytes) -> None:
        self.sent: list[dict[str, Any]] = []
        self._inbox = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive(self) -> dict[str, Any]:
        return self._inbox.pop(0) if self._inbox else {"type": "http.disconnect"}

    async def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)


async def test_deprecated_variant_gets_410_without_running_a_turn() -> None:
    ran: list[bool] = []

    async def run_turn(audio: AsyncIterator[bytes]) -> AsyncIterator[BackendEvent]:
        ran.append(True)
        raise AssertionError("must not run")

    rec = Recorder(b"\x00\x00")
    await sse_turn_handler({"type": "http"}, rec.receive, rec.send, variant="transcribe-polly-baseline",
                           deprecated=True, websocket_url=WS, run_turn=run_turn)  # type: ignore[arg-type]
    assert rec.sent[0]["status"] == 410 and not ran


async def test_live_variant_streams_the_turn_as_sse() -> None:
    received: list[bytes] = []

    async def events(audio: AsyncIterator[bytes]) -> AsyncIterator[BackendEvent]:
        async for frame in audio:
            received.append(frame)
        yield AudioChunk(b"\x00\x01")
        yield TurnEnd()

    async def run_turn(audio: AsyncIterator[bytes]) -> AsyncIterator[BackendEvent]:
        return events(audio)

    rec = Recorder(b"\x05\x06")
    await sse_turn_handler({"type": "http"}, rec.receive, rec.send, variant="transcribe-polly-baseline",
                           deprecated=False, websocket_url=WS, run_turn=run_turn)
    assert rec.sent[0]["status"] == 200
    assert (b"content-type", b"text/event-stream") in rec.sent[0]["headers"]
    names = [parse(m["body"])[0] for m in rec.sent[1:] if m.get("body")]
    assert names == ["audio", "turn_end"] and received == [b"\x05\x06"]
