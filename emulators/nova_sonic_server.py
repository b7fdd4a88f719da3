"""A Nova Sonic emulator the real `aws_sdk_bedrock_runtime` client talks to (InvokeModelWithBidirectionalStream).

Mounted by `emulators.server` on HTTP/2 over TLS: the client's request body is a stream of SigV4-signed event-stream
frames, each wrapping a `chunk` event whose JSON payload `{"bytes": <base64>}` holds one Nova Sonic input event; the
response body is a stream of `chunk` events carrying output events the same way, or modelled exception events.
What it accepts and when a turn ends are `nova_sonic_rules` (each rule cited there and in
tests/fixtures/nova_sonic/SOURCES.md). How it answers, per the user guide's "Handling output events":

* a turn: completionStart, the USER ASR text (FINAL), then the reply in sentence segments, each a SPECULATIVE text
  block, an AUDIO block (contentEnd PARTIAL_TURN, END_TURN on the reply's last) and, once that segment has been
  played (by its playback time from the first audio), a FINAL text block of what was spoken: so the last AUDIO
  END_TURN comes before the reply's last FINAL text, as the service sends them; usage events throughout, their
  counts growing with the audio received (silence included) and sent, with `details.delta` and `details.total`;
* barge-in: speech while the reply is still playing by its playback time ("some audio may already have been
  delivered but not yet played"), however fast it was sent, stops it: AUDIO contentEnd INTERRUPTED (if a block was
  open), then a FINAL text `{ "interrupted" : true }` ended INTERRUPTED;
* limits: a ModelTimeoutException when no input arrives for `idle_timeout_s` and when the stream reaches
  `stream_limit_s` (the API reference: the stream "remains open for 8 minutes");
* any malformed or out-of-order input: a validationException on the stream at once, then the stream ends; other
  streams are unaffected.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import re
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any

from emulators import nova_sonic_rules as rules
from emulators.audio import split, voiced_pcm, voiced_windows
from emulators.behaviour import Behaviour, Fault
from emulators.event_stream import StreamDecoder, event_message, exception_message, unwrap_signed

SPEECH_LEVEL = 200.0  # mean |sample| above which a 20 ms window counts as speech
VAD_WINDOW_SECONDS = 0.02
EXCEPTIONS = {
    Fault.STREAM_ERROR: ("modelStreamErrorException", "Model stream error (emulated)"),
    Fault.MODEL_TIMEOUT: ("modelTimeoutException", "Model has timed out in processing the request"),
    Fault.THROTTLE: ("throttlingException", "Too many requests (emulated)"),
}
TOOL_WAIT_SECONDS = 10.0  # how long the emulated model waits for a tool result before timing out
REPLIES = ("Sure, I can help with that. What else would you like to know?",
           "Here is the answer you asked for. Anything more?")
INTERRUPTED_MARKER = '{ "interrupted" : true }'
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass
class NovaStreamLog:
    """What one stream received and sent, for tests."""

    names: list[str] = field(default_factory=list)
    violation: str | None = None
    audio_frames: int = 0
    system_prompt: str | None = None
    interruptions: int = 0
    tools_offered: list[str] = field(default_factory=list)
    tool_results: list[tuple[str, str]] = field(default_factory=list)  # (toolUseId, content) as received
    end_heard_in: list[int] = field(default_factory=list)  # bytes of the audioInput where each turn's pause was heard
    output: list[str] = field(default_factory=list)  # output events: "contentEnd AUDIO END_TURN", "usageEvent", ...
    audio_rates: list[int] = field(default_factory=list)  # sampleRateHertz of each AUDIO block sent


def sentences(text: str) -> list[str]:
    """The reply's sentence segments (the service streams a reply sentence by sentence)."""
    return [s for s in SENTENCE_END.split(text.strip()) if s]


def segment_pcm(total_ms: int, rate: int, parts: list[str]) -> list[bytes]:
    """`total_ms` of voiced audio at `rate` shared between the segments by their length in characters."""
    pcm = voiced_pcm(total_ms, rate)
    weights = [max(1, len(p)) for p in parts]
    out, start = [], 0
    for index, weight in enumerate(weights):
        end = len(pcm) if index == len(weights) - 1 else start + len(pcm) * weight // sum(weights) // 2 * 2
        out.append(pcm[start:end])
        start = end
    return out


class Usage:
    """Running token totals of one stream; each usage event reports what changed since the last one."""

    def __init__(self) -> None:
        self.input_audio_seconds = 0.0
        self.output_audio_seconds = 0.0
        self.input_text = 0
        self.output_text = 0
        self._reported = self.totals()

    def totals(self) -> dict[str, dict[str, int]]:
        return {"input": {"speechTokens": rules.speech_tokens(self.input_audio_seconds),
                          "textTokens": self.input_text},
                "output": {"speechTokens": rules.speech_tokens(self.output_audio_seconds),
                           "textTokens": self.output_text}}

    def event(self) -> dict[str, Any]:
        total = self.totals()
        delta = {d: {k: total[d][k] - self._reported[d][k] for k in total[d]} for d in total}
        self._reported = total
        tokens_in, tokens_out = sum(total["input"].values()), sum(total["output"].values())
        return {"details": {"delta": delta, "total": total}, "totalInputTokens": tokens_in,
                "totalOutputTokens": tokens_out, "totalTokens": tokens_in + tokens_out}


class NovaSonicStream:
    """One bidirectional stream's emulated model."""

    def __init__(self, behaviour: Behaviour, send_bytes: Any, log: NovaStreamLog,
                 model_id: str = "amazon.nova-sonic-v1:0") -> None:
        self.behaviour = behaviour
        self._send = send_bytes
        self.log = log
        self.state = rules.StreamState(model_id=model_id)
        self.session_id = str(uuid.uuid4())
        self.completion_id = str(uuid.uuid4())
        self.usage = Usage()
        self._endpointer: rules.Endpointer | None = None
        self._reply: asyncio.Task[None] | None = None
        self._open_audio: str | None = None  # the AUDIO output block being generated
        self._playback_end = 0.0  # loop time at which the audio sent so far has been played
        self._turn = 0
        self.failed = False
        self.fault: Fault | None = None
        self.ended = asyncio.Event()
        self._held: list[bytes] | None = None
        self._tool_waits: dict[str, asyncio.Future[str]] = {}  # toolUseId -> the result the model waits for
        self._tool_blocks: dict[str, str] = {}  # contentName of an open TOOL result block -> its toolUseId
        self._idle: asyncio.TimerHandle | None = None

    @property
    def prompt_name(self) -> str:
        return self.state.prompt_name or ""

    # --- output ----------------------------------------------------------------------------------------------------

    async def emit(self, name: str, body: dict[str, Any]) -> None:
        """Send one output event (or hold it, between `hold()` and `flush()`)."""
        body = {"sessionId": self.session_id, "promptName": self.prompt_name, "completionId": self.completion_id,
                **body}
        self.log.output.append(" ".join([name, *(str(body[k]) for k in ("type", "stopReason") if k in body)]))
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

    async def usage_event(self) -> None:
        await self.emit("usageEvent", self.usage.event())

    async def fail(self, fault: Fault) -> None:
        """End the stream the way the service does for `fault`."""
        if self.failed:
            return
        self.failed = True
        self.fault = fault
        if fault is Fault.STALL:
            await asyncio.Event().wait()  # silent until the client gives up and closes its side
        exc_type, text = EXCEPTIONS[fault]
        await self._send(exception_message(exc_type, text))
        self.ended.set()

    async def refuse(self, problem: str) -> None:
        """A ValidationException on the stream, then the stream ends (the service keeps no state for it)."""
        if self.failed:
            return
        self.log.violation = self.log.violation or problem
        self.failed = True
        await self._send(exception_message("validationException", problem))
        self.ended.set()

    # --- input -----------------------------------------------------------------------------------------------------

    def start_timers(self) -> None:
        """The stream's 8-minute limit and the no-input timeout (both ModelTimeoutException)."""
        loop = asyncio.get_running_loop()
        loop.call_later(self.behaviour.stream_limit_s, self._time_out)
        self._touch()

    def _touch(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
        self._idle = asyncio.get_running_loop().call_later(self.behaviour.idle_timeout_s, self._time_out)

    def _time_out(self) -> None:
        if not self.failed and not self.ended.is_set():
            task = asyncio.ensure_future(self.fail(Fault.MODEL_TIMEOUT))
            task.add_done_callback(lambda _: None)

    async def on_frame(self, event_type: str | None, payload: bytes) -> None:
        """One input frame of the request body: a `chunk` whose `bytes` are one input event's JSON."""
        if self.failed:
            return
        if event_type != "chunk":
            await self.refuse(f"Invalid input: unknown event type {event_type!r} (only chunk)")
            return
        try:
            chunk = json.loads(payload)
            event = json.loads(base64.b64decode(chunk["bytes"], validate=True))
        except (ValueError, KeyError, TypeError) as exc:
            await self.refuse(f"Invalid input: the chunk is not base64-encoded JSON ({type(exc).__name__})")
            return
        await self.on_input(event)

    async def on_input(self, event: Any) -> None:
        """Handle one decoded input event."""
        if self.failed:
            return
        self._touch()
        parsed = rules.event_of(event)
        if isinstance(parsed, str):
            await self.refuse(parsed)
            return
        name, body = parsed
        self.log.names.append(name)
        problem = rules.apply(self.state, name, body)
        if problem is None and name in ("contentStart", "toolResult"):
            problem = self._on_tool_input(name, body)
        if problem is not None:
            await self.refuse(problem)
            return
        if name == "sessionStart":
            self._endpointer = rules.Endpointer(self.state.pause_seconds, VAD_WINDOW_SECONDS)
        elif name == "promptStart":
            self.log.tools_offered = list(self.state.tools)
        elif name == "textInput":
            text = str(body["content"])
            self.usage.input_text += rules.text_tokens(text)
            if self.log.system_prompt is None:
                self.log.system_prompt = text
        elif name == "audioInput":
            self.log.audio_frames += 1
            pcm = rules.decode_audio(body["content"]) or b""
            self.usage.input_audio_seconds += len(pcm) / 2 / self.state.input_rate
            await self._on_audio(pcm)
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
        result = str(body.get("content", ""))
        self.log.tool_results.append((use_id, result))
        wait = self._tool_waits.pop(use_id, None)
        if wait is not None and not wait.done():
            wait.set_result(result)
        return None

    async def _on_audio(self, pcm: bytes) -> None:
        assert self._endpointer is not None
        window = max(2, int(self.state.input_rate * VAD_WINDOW_SECONDS) * 2)
        voiced = voiced_windows(pcm, window, SPEECH_LEVEL)
        _, paused_at = self._endpointer.feed(voiced)
        if any(voiced) and self._replying():
            await self._interrupt()
        if paused_at is not None:  # speech, then the pause: the end of the user's turn
            self.log.end_heard_in.append(len(pcm))
            self._reply = asyncio.create_task(self._answer(asyncio.get_running_loop().time()))

    def _replying(self) -> bool:
        """Is a reply still being generated, or still playing by its playback time? (The reply's task lasts until
        its last FINAL text, which goes out when the reply has been played.)"""
        return self._reply is not None and not self._reply.done()

    async def _cancel_reply(self) -> None:
        if self._reply is not None and not self._reply.done():
            self._reply.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reply
        await self.flush()

    async def _interrupt(self) -> None:
        """The user spoke over the reply: stop it, and say so the way the service does."""
        self.log.interruptions += 1
        open_audio = self._open_audio
        await self._cancel_reply()
        if open_audio is not None:
            await self.emit("contentEnd", {"contentId": open_audio, "type": "AUDIO", "role": "ASSISTANT",
                                           "stopReason": "INTERRUPTED"})
        self._open_audio = None
        content = str(uuid.uuid4())
        await self.emit("contentStart", {"contentId": content, "type": "TEXT", "role": "ASSISTANT",
                                         "additionalModelFields": '{"generationStage":"FINAL"}',
                                         "textOutputConfiguration": {"mediaType": "text/plain"}})
        await self.emit("textOutput", {"contentId": content, "role": "ASSISTANT", "content": INTERRUPTED_MARKER})
        await self.emit("contentEnd", {"contentId": content, "type": "TEXT", "role": "ASSISTANT",
                                       "stopReason": "INTERRUPTED"})
        await self.usage_event()
        self._playback_end = 0.0

    # --- replies ---------------------------------------------------------------------------------------------------

    async def _text_block(self, role: str, stage: str, text: str, stop: str) -> None:
        content = str(uuid.uuid4())
        await self.emit("contentStart", {"contentId": content, "type": "TEXT", "role": role,
                                         "additionalModelFields": json.dumps({"generationStage": stage}),
                                         "textOutputConfiguration": {"mediaType": "text/plain"}})
        await self.emit("textOutput", {"contentId": content, "role": role, "content": text})
        await self.emit("contentEnd", {"contentId": content, "type": "TEXT", "role": role, "stopReason": stop})
        if role == "ASSISTANT" and stage == "SPECULATIVE":
            self.usage.output_text += rules.text_tokens(text)

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

    async def _audio_start(self, content: str) -> None:
        self._open_audio = content
        self.log.audio_rates.append(self.state.output_rate)
        await self.emit("contentStart", {"contentId": content, "type": "AUDIO", "role": "ASSISTANT",
                                         "additionalModelFields": '{"generationStage":"SPECULATIVE"}',
                                         "audioOutputConfiguration": {
                                             "mediaType": "audio/lpcm", "sampleRateHertz": self.state.output_rate,
                                             "sampleSizeBits": 16, "channelCount": 1, "encoding": "base64"}})

    async def _answer(self, heard_at: float) -> None:
        """Reply to the speech that ended at `heard_at` (loop time): the first audio goes out `delay` after it.

        The text and the AUDIO contentStart that precede the first audio are sent while waiting, so the emulator's
        own event encoding does not add to the configured latency (which a benchmark subtracting it would charge
        to the relay).
        """
        loop = asyncio.get_running_loop()
        self._turn += 1
        self._playback_end = 0.0
        delay, fault = self.behaviour.next_turn()
        self.completion_id = str(uuid.uuid4())
        await self.emit("completionStart", {})
        await self._text_block("USER", "FINAL", f"(emulated speech, turn {self._turn})", "END_TURN")
        await self.usage_event()
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
        parts = sentences(reply)
        rate = self.state.output_rate
        pcms = segment_pcm(self.behaviour.reply_audio_ms, rate, parts)
        chunk_bytes = max(2, rate * 2 * self.behaviour.chunk_ms // 1000)
        finals: list[tuple[float, str]] = []  # (seconds of audio up to this segment's end, its text)
        played = 0.0
        for index, (text, pcm) in enumerate(zip(parts, pcms, strict=True)):
            last = index == len(parts) - 1
            await self._text_block("ASSISTANT", "SPECULATIVE", text, "PARTIAL_TURN")
            audio_id = str(uuid.uuid4())
            await self._audio_start(audio_id)
            for number, chunk in enumerate(split(pcm, chunk_bytes)):
                if index == 0 and number == 0:
                    await self.behaviour.wait_until(heard_at + delay, loop)
                    self.behaviour.record_answer(heard_at, delay, loop.time())
                    self._playback_end = loop.time()
                if fault in (Fault.STREAM_ERROR, Fault.STALL) and index == len(parts) - 1 and number == 0:
                    await self.flush()
                    await self.fail(fault)
                    return
                await self.emit("audioOutput", {"contentId": audio_id, "role": "ASSISTANT",
                                                "content": base64.b64encode(chunk).decode("ascii")})
                seconds = len(chunk) / 2 / rate
                self.usage.output_audio_seconds += seconds
                self._playback_end = max(self._playback_end, loop.time()) + seconds / self.behaviour.playback_speed
                if self.behaviour.pace_audio:
                    await asyncio.sleep(self.behaviour.chunk_ms / 1000)  # speaking speed: barge-in lands mid-reply
                elif index == 0 and number == 0:
                    await asyncio.sleep(0)  # let the server write the first audio (the TTFA) before the rest
                    self.hold()  # the rest of the reply goes out as one burst
            early = self.behaviour.final_text == "early"
            if early:
                await self._text_block("ASSISTANT", "FINAL", text, "END_TURN" if last else "PARTIAL_TURN")
            self._open_audio = None
            await self.emit("contentEnd", {"contentId": audio_id, "type": "AUDIO", "role": "ASSISTANT",
                                           "stopReason": "END_TURN" if last else "PARTIAL_TURN"})
            await self.usage_event()
            played += len(pcm) / 2 / rate
            if not early:
                finals.append((played, text))
        await self.flush()
        await self._finals(finals, len(parts))
        # The reply lasts until it has been played: speech before then is a barge-in.
        await asyncio.sleep(max(0.0, self._playback_end - loop.time()))

    async def _finals(self, finals: list[tuple[float, str]], count: int) -> None:
        """Each segment's FINAL text once it has been played (by playback time from the first audio)."""
        loop = asyncio.get_running_loop()
        if not finals:
            return
        total = finals[-1][0]
        for index, (played_to, text) in enumerate(finals):
            due = self._playback_end - (total - played_to) / self.behaviour.playback_speed
            await asyncio.sleep(max(0.0, due - loop.time()))
            await self._text_block("ASSISTANT", "FINAL", text, "END_TURN" if index == count - 1 else "PARTIAL_TURN")
            await self.usage_event()

    async def finish(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
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

        model_id = urllib.parse.unquote(scope["path"].split("/model/", 1)[-1].rsplit("/", 1)[0])
        log = NovaStreamLog()
        self.streams.append(log)
        stream = NovaSonicStream(self.behaviour, send_bytes, log, model_id)
        if problem := rules.model_problem(model_id):
            await stream.refuse(problem)
        else:
            stream.start_timers()
        reader = asyncio.create_task(self._read(receive, stream))
        await stream.ended.wait()
        await stream.finish()
        # Only end the response once the client has ended its side: hypercorn drops the whole HTTP/2 connection
        # if DATA arrives for a stream whose response is complete (the real service resets just the stream).
        await asyncio.wait({reader}, timeout=10.0)
        reader.cancel()
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _read(self, receive: Any, stream: NovaSonicStream) -> None:
        decoder = StreamDecoder()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                break
            try:
                for frame in decoder.feed(message.get("body", b"")):
                    inner = unwrap_signed(frame)
                    if inner is not None and not stream.failed:
                        event_type = inner.headers.get(":event-type")
                        await stream.on_frame(event_type if isinstance(event_type, str) else None, inner.payload)
            except Exception as exc:  # a frame the codec refuses: the service answers it, it does not hang
                await stream.refuse(f"Invalid input: the event stream could not be decoded ({type(exc).__name__})")
            if not message.get("more_body", False):
                break
        stream.ended.set()
