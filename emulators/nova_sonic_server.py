"""A Nova Sonic emulator the real `aws_sdk_bedrock_runtime` client talks to (InvokeModelWithBidirectionalStream).

Mounted by `emulators.server` on HTTP/2 over TLS: the client's request body is a stream of SigV4-signed event-stream
frames, each wrapping a `chunk` event whose JSON payload `{"bytes": <base64>}` holds one Nova Sonic input event; the
response body is a stream of `chunk` events carrying output events the same way, or modelled exception events.

Turn-taking imitates the service's server-side voice activity detection: speech frames followed by a silent frame
end the user's turn; the reply (user ASR text, SPECULATIVE text, 24 kHz audio, FINAL text, usage) starts after the
Behaviour's sampled latency. Speech arriving while replying is a barge-in: the `{ "interrupted" : true }` marker and
contentEnd INTERRUPTED follow. It also checks the input order and answers a violation with a validationException.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from emulators.audio import split, voiced_pcm, voiced_windows
from emulators.behaviour import Behaviour, Fault
from emulators.event_stream import (
    StreamDecoder,
    event_message,
    exception_message,
    unwrap_signed,
)

SPEECH_LEVEL = 200.0  # mean |sample| above which a frame counts as speech
VAD_WINDOW_BYTES = 640  # 20 ms of 16 kHz s16le: where in an audioInput event speech stops
OUTPUT_RATE = 24_000
EXCEPTIONS = {
    Fault.STREAM_ERROR: ("modelStreamErrorException", "Model stream error (emulated)"),
    Fault.MODEL_TIMEOUT: ("modelTimeoutException", "Model has timed out in processing the request (emulated)"),
    Fault.THROTTLE: ("throttlingException", "Too many requests (emulated)"),
}
TOOL_WAIT_SECONDS = 10.0  # how long the emulated model waits for a tool result before timing out
REPLIES = ("Sure, I can help with that. What else would you like to know?",
           "Here is the answer you asked for. Anything more?")


@dataclass
class NovaStreamLog:
    """What one stream received, for tests: input event names in order and any protocol violation."""

    names: list[str] = field(default_factory=list)
    violation: str | None = None
    audio_frames: int = 0
    system_prompt: str | None = None
    interruptions: int = 0
    tools_offered: list[str] = field(default_factory=list)
    tool_results: list[tuple[str, str]] = field(default_factory=list)  # (toolUseId, content) as received
    end_heard_in: list[int] = field(default_factory=list)  # bytes of the audioInput where each turn's pause was heard


def check_order(names: list[str], name: str) -> str | None:
    """The documented input order, as a predicate on the next event name (None = acceptable)."""
    if not names:
        return None if name == "sessionStart" else f"first event must be sessionStart, got {name}"
    if name == "sessionStart":
        return "sessionStart sent twice"
    if names[-1] == "sessionStart" and name != "promptStart":
        return f"promptStart must follow sessionStart, got {name}"
    if "sessionEnd" in names:
        return f"{name} after sessionEnd"
    if name == "sessionEnd" and names[-1] != "promptEnd":
        return "sessionEnd must follow promptEnd"
    return None


class NovaSonicStream:
    """One bidirectional stream's emulated model."""

    def __init__(self, behaviour: Behaviour, send_bytes: Any, log: NovaStreamLog) -> None:
        self.behaviour = behaviour
        self._send = send_bytes
        self.log = log
        self.prompt_name = ""
        self.session_id = str(uuid.uuid4())
        self.completion_id = str(uuid.uuid4())
        self._in_speech = False
        self._reply: asyncio.Task[None] | None = None
        self._turn = 0
        self._started = False
        self.failed = False
        self.fault: Fault | None = None
        self.ended = asyncio.Event()
        self._held: list[bytes] | None = None
        self._tool_waits: dict[str, asyncio.Future[str]] = {}  # toolUseId -> the result the model waits for
        self._tool_blocks: dict[str, str] = {}  # contentName of an open TOOL result block -> its toolUseId

    async def emit(self, name: str, body: dict[str, Any]) -> None:
        """Send one output event (or hold it, between `hold()` and `flush()`)."""
        body = {"sessionId": self.session_id, "promptName": self.prompt_name, "completionId": self.completion_id,
                **body}
        payload = json.dumps({"event": {name: body}}, separators=(",", ":")).encode()
        # {"bytes": "<base64>"} written directly: base64 needs no JSON escaping, and this is the emulator's hot path.
        frame = event_message("chunk", b'{"bytes":"' + base64.b64encode(payload) + b'"}')
        if self._held is not None:
            self._held.append(frame)
        else:
            await self._send(frame)

    def hold(self) -> None:
        """Collect the events emitted from now on, to go out in one write at `flush()` (a burst, as a service
        writing a generated reply faster than real time sends it: a few large DATA frames, not one per event)."""
        self._held = []

    async def flush(self) -> None:
        frames, self._held = self._held, None
        if frames:
            await self._send(b"".join(frames))

    async def fail(self, fault: Fault) -> None:
        """End the stream the way the service does for `fault`."""
        self.failed = True
        self.fault = fault
        if fault is Fault.STALL:
            await asyncio.Event().wait()  # silent until the client gives up and closes its side
        exc_type, text = EXCEPTIONS[fault]
        await self._send(exception_message(exc_type, text))
        self.ended.set()

    async def on_input(self, event: dict[str, Any]) -> None:
        """Handle one decoded input event."""
        inner = event.get("event")
        name = next(iter(inner)) if isinstance(inner, dict) and len(inner) == 1 else "?"
        violation = check_order(self.log.names, name)
        self.log.names.append(name)
        if violation and not self.log.violation:
            self.log.violation = violation
            self.failed = True
            await self._send(exception_message("validationException", violation))
            self.ended.set()
            return
        body = inner[name] if isinstance(inner, dict) else {}
        if name == "promptStart":
            self.prompt_name = str(body.get("promptName", ""))
            tools = (body.get("toolConfiguration") or {}).get("tools") or []
            self.log.tools_offered = [str(t.get("toolSpec", {}).get("name", "")) for t in tools]
        elif name in ("contentStart", "toolResult") and (problem := self._on_tool_input(name, body)):
            self.log.violation = self.log.violation or problem
            self.failed = True
            await self._send(exception_message("validationException", problem))
            self.ended.set()
        elif name == "textInput" and self.log.system_prompt is None:
            self.log.system_prompt = str(body.get("content", ""))
        elif name == "audioInput":
            self.log.audio_frames += 1
            await self._on_audio(base64.b64decode(body.get("content", "")))
        elif name == "promptEnd":
            await self._cancel_reply()
            await self.emit("completionEnd", {"stopReason": "END_TURN"})
        elif name == "sessionEnd":
            self.ended.set()

    def _on_tool_input(self, name: str, body: dict[str, Any]) -> str | None:
        """Track a tool result block (contentStart TOOL, toolResult); a problem with it is returned."""
        content = str(body.get("contentName", ""))
        if name == "contentStart":
            if body.get("type") != "TOOL":
                return None
            use_id = str((body.get("toolResultInputConfiguration") or {}).get("toolUseId", ""))
            if use_id not in self._tool_waits:
                return f"tool result block {content} names toolUseId {use_id!r}, which was not asked for"
            self._tool_blocks[content] = use_id
            return None
        use_id = self._tool_blocks.pop(content, "")
        if not use_id:
            return f"toolResult for {content}, which was not started as a TOOL content block"
        result = str(body.get("content", ""))
        self.log.tool_results.append((use_id, result))
        wait = self._tool_waits.pop(use_id)
        if not wait.done():
            wait.set_result(result)
        return None

    async def _ask_tool(self) -> str | None:
        """Use the first offered tool, as the model would mid-turn; the result text, None if it never came."""
        content, use_id = str(uuid.uuid4()), str(uuid.uuid4())
        wait = self._tool_waits[use_id] = asyncio.get_running_loop().create_future()
        await self.emit("contentStart", {"contentId": content, "type": "TOOL", "role": "TOOL",
                                         "toolUseOutputConfiguration": {"mediaType": "application/json"}})
        await self.emit("toolUse", {"contentId": content, "role": "TOOL", "toolName": self.log.tools_offered[0],
                                    "toolUseId": use_id, "content": "{}"})
        await self.emit("contentEnd", {"contentId": content, "type": "TOOL", "stopReason": "TOOL_USE"})
        try:
            return await asyncio.wait_for(wait, TOOL_WAIT_SECONDS)
        except TimeoutError:
            return None

    async def _on_audio(self, pcm: bytes) -> None:
        voiced = voiced_windows(pcm, VAD_WINDOW_BYTES, SPEECH_LEVEL)
        if any(voiced):
            if self._reply is not None and not self._reply.done():
                await self._cancel_reply()
                self.log.interruptions += 1
                await self._interrupted()
            self._in_speech = True
        if self._in_speech and voiced and not voiced[-1]:  # speech, then a pause: the end of the user's turn
            self._in_speech = False
            self.log.end_heard_in.append(len(pcm))
            self._reply = asyncio.create_task(self._answer(asyncio.get_running_loop().time()))

    async def _cancel_reply(self) -> None:
        if self._reply is not None and not self._reply.done():
            self._reply.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reply

    async def _interrupted(self) -> None:
        content = str(uuid.uuid4())
        await self.emit("contentStart", {"contentId": content, "type": "TEXT", "role": "ASSISTANT",
                                         "additionalModelFields": '{"generationStage":"FINAL"}'})
        await self.emit("textOutput", {"contentId": content, "role": "ASSISTANT",
                                       "content": '{ "interrupted" : true }'})
        await self.emit("contentEnd", {"contentId": content, "type": "TEXT", "stopReason": "INTERRUPTED"})

    async def _text_block(self, role: str, stage: str, text: str, stop: str) -> None:
        content = str(uuid.uuid4())
        await self.emit("contentStart", {"contentId": content, "type": "TEXT", "role": role,
                                         "additionalModelFields": json.dumps({"generationStage": stage}),
                                         "textOutputConfiguration": {"mediaType": "text/plain"}})
        await self.emit("textOutput", {"contentId": content, "role": role, "content": text})
        await self.emit("contentEnd", {"contentId": content, "type": "TEXT", "stopReason": stop})

    async def _answer(self, heard_at: float) -> None:
        """Reply to the speech that ended at `heard_at` (loop time): the first audio goes out `delay` after it.

        The text that precedes the audio is sent while waiting, so the emulator's own event encoding does not add
        to the configured latency (which would be charged to the relay by a benchmark subtracting it).
        """
        loop = asyncio.get_running_loop()
        self._turn += 1
        delay, fault = self.behaviour.next_turn()
        if not self._started:
            self._started = True
            await self.emit("completionStart", {})
        await self._text_block("USER", "FINAL", f"(emulated speech, turn {self._turn})", "END_TURN")
        if fault in (Fault.MODEL_TIMEOUT, Fault.THROTTLE):
            await asyncio.sleep(max(0.0, heard_at + delay - loop.time()))
            await self.fail(fault)
            return
        reply = REPLIES[self._turn % len(REPLIES)]
        every = self.behaviour.tool_every
        if every and self.log.tools_offered and self._turn % every == 0:
            result = await self._ask_tool()
            if result is None:
                await self.fail(Fault.MODEL_TIMEOUT)
                return
            reply = f"I looked that up: {result[:80]}"
        await self._text_block("ASSISTANT", "SPECULATIVE", reply, "PARTIAL_TURN")
        audio_id = str(uuid.uuid4())
        await self.emit("contentStart", {"contentId": audio_id, "type": "AUDIO", "role": "ASSISTANT",
                                         "additionalModelFields": '{"generationStage":"SPECULATIVE"}',
                                         "audioOutputConfiguration": {"mediaType": "audio/lpcm",
                                                                      "sampleRateHertz": OUTPUT_RATE,
                                                                      "sampleSizeBits": 16, "channelCount": 1,
                                                                      "encoding": "base64"}})
        pcm = voiced_pcm(self.behaviour.reply_audio_ms, OUTPUT_RATE)
        chunks = split(pcm, OUTPUT_RATE * 2 * self.behaviour.chunk_ms // 1000)
        await self.behaviour.wait_until(heard_at + delay, loop)
        self.behaviour.record_answer(heard_at, delay, loop.time())
        paced = self.behaviour.pace_audio
        for index, chunk in enumerate(chunks):
            if fault in (Fault.STREAM_ERROR, Fault.STALL) and index == len(chunks) // 2:
                await self.flush()
                await self.fail(fault)
                return
            await self.emit("audioOutput", {"contentId": audio_id, "role": "ASSISTANT",
                                            "content": base64.b64encode(chunk).decode("ascii")})
            if paced:
                await asyncio.sleep(self.behaviour.chunk_ms / 1000)  # speaking speed: barge-in can land mid-reply
            elif index == 0:
                await asyncio.sleep(0)  # let the server write the first audio (the TTFA) before encoding the rest
                self.hold()  # the rest of the reply goes out as one burst
        await self.emit("contentEnd", {"contentId": audio_id, "type": "AUDIO", "stopReason": "PARTIAL_TURN"})
        speech_out = len(pcm) // 2 // 480  # ~ one speech token per 20 ms of output
        await self.emit("usageEvent", {
            "details": {"delta": {"input": {"speechTokens": 25, "textTokens": 0},
                                  "output": {"speechTokens": speech_out, "textTokens": len(reply.split())}},
                        "total": {}},
            "totalInputTokens": 25 * self._turn, "totalOutputTokens": speech_out * self._turn,
            "totalTokens": (25 + speech_out) * self._turn})
        await self._text_block("ASSISTANT", "FINAL", reply, "END_TURN")
        await self.flush()

    async def finish(self) -> None:
        await self._cancel_reply()


class NovaSonicEmulator:
    """The ASGI handler for `POST /model/{modelId}/invoke-with-bidirectional-stream`."""

    def __init__(self, behaviour: Behaviour | None = None) -> None:
        self.behaviour = behaviour or Behaviour()
        self.streams: list[NovaStreamLog] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if self.behaviour.take_connect_fault() is Fault.THROTTLE:
            body = json.dumps({"message": "Too many requests, please wait before trying again."}).encode()
            await send({"type": "http.response.start", "status": 429, "headers": [
                (b"content-type", b"application/json"), (b"x-amzn-errortype", b"ThrottlingException")]})
            await send({"type": "http.response.body", "body": body})
            return
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/vnd.amazon.eventstream"),
            (b"x-amzn-requestid", str(uuid.uuid4()).encode())]})
        lock = asyncio.Lock()

        async def send_bytes(data: bytes) -> None:
            async with lock:
                await send({"type": "http.response.body", "body": data, "more_body": True})

        log = NovaStreamLog()
        self.streams.append(log)
        stream = NovaSonicStream(self.behaviour, send_bytes, log)
        reader = asyncio.create_task(self._read(receive, stream))
        await stream.ended.wait()
        await stream.finish()
        # Only end the response once the client has ended its side: hypercorn drops the whole HTTP/2 connection
        # if DATA arrives for a stream whose response is complete (the real service resets just the stream).
        await asyncio.wait({reader}, timeout=60.0)
        reader.cancel()
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _read(self, receive: Any, stream: NovaSonicStream) -> None:
        decoder = StreamDecoder()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            for frame in decoder.feed(message.get("body", b"")):
                inner = unwrap_signed(frame)
                if inner is None or stream.failed:
                    continue
                chunk = json.loads(inner.payload)
                await stream.on_input(json.loads(base64.b64decode(chunk["bytes"])))
            if not message.get("more_body", False):
                break
        stream.ended.set()
