"""Nova Sonic relay: one Bedrock InvokeModelWithBidirectionalStream per conversation, many turns per stream.

SDK: aws-sdk-bedrock-runtime 0.12.0 (AsyncBedrockRuntimeClient, AsyncBedrockRuntimeConfig.resolve) over the CRT
HTTP/2 transport, the only one that streams both ways. Event JSON lives in `nova_sonic_events` (pure).

Per stream: the opening events (session, prompt, SYSTEM text, interactive USER audio block), then user audio as it
arrives, keep-alive silence between turns (the model times out without audio and detects end of turn from silence),
and the closing events in order. Output audio is yielded as each audioOutput arrives, never re-buffered. A stream
older than `nova_handover_seconds` is replaced at the next turn by a fresh one carrying the recent transcript (the
service ends streams at 8 minutes); a stream that fails (ModelTimeoutException, stream errors) fails the current
turn with a retryable BackendError and is replaced at the next one.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Literal

from aws_sdk_bedrock_runtime.client import AsyncBedrockRuntimeClient
from aws_sdk_bedrock_runtime.config import AsyncBedrockRuntimeConfig
from aws_sdk_bedrock_runtime.models import (
    BidirectionalInputPayloadPart,
    BidirectionalOutputPayloadPart,
    InvokeModelWithBidirectionalStreamInputChunk,
    InvokeModelWithBidirectionalStreamOperationInput,
    InvokeModelWithBidirectionalStreamOutputChunk,
    ModelTimeoutException,
    ServiceUnavailableException,
    ThrottlingException,
    ValidationException,
)
from smithy_core.codecs import Codec

from voice_runtime.adapters import nova_sonic_events as ev
from voice_runtime.adapters.backend_settings import BackendSettings
from voice_runtime.adapters.base import (
    AudioChunk,
    BackendError,
    BackendEvent,
    SessionContext,
    Transcript,
    TurnEnd,
    Usage,
    turn_ended,
)
from voice_runtime.adapters.crt_transport import credentials_resolver, crt_client
from voice_runtime.adapters.event_frames import FastDecoder, FramedRestJsonProtocol, PlainEncoder
from voice_runtime.adapters.tools import ToolBox, builtin_toolbox

log = logging.getLogger(__name__)
HISTORY_TURNS = 10  # transcript lines carried into a fresh stream on hand-over
CLOSE_SECONDS = 1.0  # closing events + end of our side, then the service's last events


def classify(exc: BaseException | object) -> BackendError:
    """Map an SDK exception, or an exception event of the output union, to a BackendError with a stable code."""
    value = getattr(exc, "value", exc)
    if isinstance(value, ThrottlingException):
        return BackendError(f"Nova Sonic throttled: {value}", retryable=True, code="throttled")
    if isinstance(value, ModelTimeoutException):
        return BackendError(f"Nova Sonic model timeout: {value}", retryable=True, code="model_timeout")
    if isinstance(value, ServiceUnavailableException):
        return BackendError(f"Nova Sonic unavailable: {value}", retryable=True, code="unavailable")
    if isinstance(value, ValidationException):
        return BackendError(f"Nova Sonic rejected the event stream: {value}", retryable=False, code="invalid_request")
    return BackendError(f"Nova Sonic stream error: {type(value).__name__}: {value}", retryable=True,
                        code="stream_error")


def output_chunk(payload: bytes, codec: Codec) -> InvokeModelWithBidirectionalStreamOutputChunk:
    """The output union's `chunk` event from its JSON payload (`{"bytes": "<base64 Nova Sonic event>"}`); one base64
    blob needs no codec."""
    encoded = json.loads(payload).get("bytes")
    return InvokeModelWithBidirectionalStreamOutputChunk(
        value=BidirectionalOutputPayloadPart(bytes_=base64.b64decode(encoded) if encoded is not None else None))


def input_chunk(event: InvokeModelWithBidirectionalStreamInputChunk) -> tuple[str, bytes]:
    """The input union's `chunk` event as (event type, JSON payload), as the SDK's serializer writes it."""
    data = event.value.bytes_
    return "chunk", b"{}" if data is None else b'{"bytes":"' + base64.b64encode(data) + b'"}'


class NovaSonicProtocol(FramedRestJsonProtocol):
    """Bedrock's restJson1 with output frames decoded whole and input chunks serialized directly (see
    adapters.event_frames): `chunk` events are nearly all of a conversation, both ways."""

    fast_events: ClassVar[Mapping[str, FastDecoder]] = MappingProxyType({"chunk": output_chunk})
    plain_inputs: ClassVar[Mapping[type, PlainEncoder]] = MappingProxyType(
        {InvokeModelWithBidirectionalStreamInputChunk: input_chunk})


class NovaSonicFramedProtocol(FramedRestJsonProtocol):
    """NovaSonicProtocol without the direct input serializer (the SDK's own serializes every input event): only
    for measuring what that hook on the SDK publisher's private `_serializer` gains."""

    fast_events: ClassVar[Mapping[str, FastDecoder]] = NovaSonicProtocol.fast_events


def handover_due(opened_at: float, now: float, limit_seconds: float) -> bool:
    """A stream this old must be replaced before the next turn (the service's hard limit is 8 minutes)."""
    return now - opened_at >= limit_seconds


@dataclass
class _Content:
    role: str
    kind: str
    stage: str
    turn: int = -1  # the turn whose reply this block belongs to (-1: none; its output is stale)


@dataclass
class _Stream:
    """One open bidirectional stream and its tasks."""

    duplex: Any
    prompt_name: str
    audio_content: str
    opened_at: float
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    receiver: asyncio.Task[None] | None = None
    pump: asyncio.Task[None] | None = None
    failure: BackendError | None = None
    closed: bool = False
    contents: dict[str, _Content] = field(default_factory=dict)
    tool_calls: set[asyncio.Task[None]] = field(default_factory=set)


class NovaSonicAdapter:
    """BackendAdapter for variants served by Nova Sonic (backend `nova_sonic`)."""

    name = "nova_sonic"

    def __init__(self, settings: Any = None, *, tools: ToolBox | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.settings = BackendSettings.of(settings)
        # Offered to the model on every stream and answered mid-turn: given in code, else the built-ins named in
        # settings (none by default: a tool changes what the model says, so offering one is a product decision).
        self.tools = tools if tools is not None else builtin_toolbox(self.settings.nova_tools)
        self.clock = clock
        self.sleep = sleep  # the keep-alive pump's pause (injected by tests)
        self._clients: dict[int, AsyncBedrockRuntimeClient] = {}
        self._client_lock = asyncio.Lock()
        self._opened = 0

    async def client(self, shard: int = 0) -> AsyncBedrockRuntimeClient:
        """One of `crt_connections` SDK clients, each with its own HTTP/2 connection, all on the process's one CRT
        event-loop thread (crt_transport.CrtEventLoop says why one thread).

        Conversations are spread over a few connections: measured with 100 sessions, one connection queued
        (relay overhead p50 52-64 ms) where 4 to 8 did not (29-33 ms), and a reset then breaks only its share.
        """
        index = shard % max(1, self.settings.crt_connections)
        async with self._client_lock:
            if index not in self._clients:
                protocol = NovaSonicProtocol if self.settings.nova_plain_input else NovaSonicFramedProtocol
                overrides: dict[str, Any] = {"region": self.settings.region, "protocol": protocol,
                                             "transport": crt_client(self.settings.emulator_ca_file,
                                                                     nodelay=self.settings.crt_nodelay)}
                if url := self.settings.endpoint("bedrock"):
                    overrides["endpoint_uri"] = url
                if resolver := credentials_resolver():
                    overrides["aws_credentials_identity_resolver"] = resolver
                config = await AsyncBedrockRuntimeConfig.resolve(**overrides)
                self._clients[index] = AsyncBedrockRuntimeClient(config=config)
            return self._clients[index]

    async def open_session(self, ctx: SessionContext) -> NovaSonicSession:
        self._opened += 1
        session = NovaSonicSession(self, ctx, shard=self._opened)
        await session.start()
        return session

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            with contextlib.suppress(Exception):
                await client.close()


class NovaSonicSession:
    """One conversation relayed to Nova Sonic."""

    def __init__(self, adapter: NovaSonicAdapter, ctx: SessionContext, *, shard: int = 0) -> None:
        self.adapter = adapter
        self.ctx = ctx
        self.shard = shard
        self.settings = adapter.settings
        self.history: list[tuple[str, str]] = []
        self._stream: _Stream | None = None
        self._turn: asyncio.Queue[BackendEvent | BackendError] | None = None
        self._user_speaking = False
        self._turn_seq = 0
        self._voiced = False
        self._heard = False
        self._pending_usage: list[Usage] = []
        self._retired: set[asyncio.Task[None]] = set()
        self._reply = ev.ReplyProgress()
        self._ending: asyncio.TimerHandle | None = None  # the turn's end, waiting for FINAL texts or usage
        self._awaiting_usage = False  # the reply is complete; its usage event ends the turn

    @property
    def system_prompt(self) -> str:
        key = self.ctx.config.system_prompt_key
        if self.ctx.system_prompt:
            return self.ctx.system_prompt
        return self.settings.system_prompts.get(key or "", self.settings.default_system_prompt)

    async def start(self) -> None:
        self._stream = await self._open()

    async def _open(self) -> _Stream:
        client = await self.adapter.client(self.shard)
        model_id = self.ctx.config.bedrock_model_id or self.settings.nova_model_id
        try:
            duplex = await client.invoke_model_with_bidirectional_stream(
                InvokeModelWithBidirectionalStreamOperationInput(model_id=model_id))
            stream = _Stream(duplex, prompt_name=f"prompt-{uuid.uuid4()}", audio_content=f"audio-{uuid.uuid4()}",
                             opened_at=self.adapter.clock())
            tools = [ev.tool_spec(*spec) for spec in self.adapter.tools.specs()]
            opening = ev.opening_events(stream.prompt_name, self.system_prompt, stream.audio_content,
                                        voice_id=self.settings.nova_voice_id,
                                        history=self.history[-HISTORY_TURNS:], tools=tools or None)
            for event in opening:
                await self._send(stream, event)
            _, receiver = await asyncio.wait_for(duplex.await_output(), self.settings.turn_timeout_seconds)
        except BackendError:
            raise
        except TimeoutError as exc:
            raise BackendError("Nova Sonic did not answer the stream request", code="timeout") from exc
        except Exception as exc:  # the SDK raises service errors, CRT errors and OSError alike
            raise classify(exc) from exc
        stream.receiver = asyncio.create_task(self._receive(stream, receiver))
        stream.pump = asyncio.create_task(self._keep_alive(stream))
        return stream

    async def _send(self, stream: _Stream, event: ev.Event) -> None:
        await self._send_block(stream, [event])

    async def _send_block(self, stream: _Stream, events: list[ev.Event]) -> None:
        """Events in order with nothing of ours in between (a content block must not be split by keep-alives)."""
        await self._send_encoded(stream, [ev.encode(e) for e in events])

    async def _send_encoded(self, stream: _Stream, payloads: list[bytes]) -> None:
        chunks = [InvokeModelWithBidirectionalStreamInputChunk(value=BidirectionalInputPayloadPart(bytes_=payload))
                  for payload in payloads]
        async with stream.send_lock:
            for chunk in chunks:
                await stream.duplex.input_stream.send(chunk)

    async def _send_audio(self, stream: _Stream, pcm: bytes) -> None:
        await self._send_encoded(stream, [ev.audio_input_json(stream.prompt_name, stream.audio_content, pcm)])

    def _silence(self, ms: int | None = None) -> bytes:
        # 16 kHz s16le: 32 bytes per millisecond.
        return bytes(32 * (self.settings.nova_silence_interval_ms if ms is None else ms))

    async def _keep_alive(self, stream: _Stream) -> None:
        """Send silence whenever the user is not speaking, so the model never starves: at real-time cadence from
        the end of the user's speech until the model shows it has heard the turn (its end-of-speech detection runs
        on that audio), sparsely otherwise (only to keep the stream alive: a hundred sessions listening to their
        replies must not cost a hundred real-time uploads, nor the events to sign and send)."""
        interval = self.settings.nova_silence_interval_ms / 1000
        idle_interval = max(interval, self.settings.nova_idle_keepalive_ms / 1000)
        silence = self._silence()
        while not stream.closed and stream.failure is None:
            await self.adapter.sleep(interval if self._turn is not None and not self._heard else idle_interval)
            if self._user_speaking or stream.closed:
                continue
            try:
                await self._send_audio(stream, silence)
            except Exception as exc:
                self._fail(stream, classify(exc))
                return

    def _fail(self, stream: _Stream, error: BackendError) -> None:
        if stream.failure is None:
            stream.failure = error
            self._retire(stream)  # end our side at once, so the service can release the stream
        if stream is self._stream and self._turn is not None:
            self._turn.put_nowait(error)

    def _deliver(self, stream: _Stream, item: BackendEvent) -> None:
        if stream is not self._stream:
            return
        if self._turn is None:
            if isinstance(item, Usage):
                self._pending_usage.append(item)  # counted with the next turn
            return
        self._turn.put_nowait(item)

    async def _receive(self, stream: _Stream, receiver: Any) -> None:
        try:
            while True:
                output = await receiver.receive()
                if output is None:
                    if not stream.closed:
                        self._fail(stream, BackendError("Nova Sonic ended the stream", code="stream_closed"))
                    return
                if not isinstance(output, InvokeModelWithBidirectionalStreamOutputChunk):
                    self._fail(stream, classify(output))
                    return
                event = ev.parse_output(output.value.bytes_ or b"{}")
                self._route(stream, event)
                if isinstance(event, ev.AudioOut):
                    # Frames arrive in bursts: let the relay forward this audio before the rest are decoded.
                    await asyncio.sleep(0)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not stream.closed:
                self._fail(stream, classify(exc))

    def _route(self, stream: _Stream, out: ev.OutputEvent) -> None:
        """Turn one parsed output event into what the runtime sees (pure bookkeeping, no I/O)."""
        match out:
            case ev.ContentStarted(content_id, role, kind, stage):
                # Nova transcribes what it heard (a USER block) before it answers. Blocks started before that
                # answer an earlier turn (typically the reply the user barged in on, still streaming): their audio,
                # text and INTERRUPTED end are not this turn's.
                listening = self._turn is not None and not self._user_speaking
                if listening and role == "USER":
                    self._heard = True
                current = listening and self._heard
                stream.contents[content_id] = _Content(role, kind, stage, self._turn_seq if current else -1)
            case ev.AudioOut(content_id, pcm):
                if self._current(stream, content_id):
                    self._voiced = self._turn is not None
                    self._reply.heard(len(pcm), self.adapter.clock())
                    self._deliver(stream, AudioChunk(pcm))
            case ev.TextOut(content_id, role, text):
                content = stream.contents.get(content_id, _Content(role, "TEXT", "FINAL"))
                final = content.stage != "SPECULATIVE"
                speaker: Literal["user", "assistant"] = "user" if (content.role or role) == "USER" else "assistant"
                if final:
                    self.history = [*self.history[-2 * HISTORY_TURNS:], (speaker, text)]
                if self._current(stream, content_id):
                    self._deliver(stream, Transcript(speaker, text, final))
            case ev.Interrupted(content_id):
                # The model stops a reply when it hears the user. Before this turn's reply has made a sound, that
                # can only be the previous reply (barged in on by the client) being stopped: not this turn's end.
                if self._current(stream, content_id) and self._voiced:
                    self._end_turn(stream, "INTERRUPTED")
            case ev.ContentEnded(content_id, _, stop_reason):
                current = self._current(stream, content_id) and self._turn is not None
                ended = stream.contents.pop(content_id, None)
                if not current or ended is None or ended.role != "ASSISTANT":
                    return
                if stop_reason == "INTERRUPTED" and self._voiced:
                    self._end_turn(stream, "INTERRUPTED")
                    return
                self._reply.ended(ended.kind, ended.stage, stop_reason)
                if self._reply.complete:
                    self._end_turn(stream, "END_TURN")
                elif self._reply.audio_done:
                    self._await_finals(stream)
            case ev.CompletionEnded(stop_reason):
                self._end_turn(stream, stop_reason or "END_TURN", wait_usage=False)
            case ev.UsageOut(tokens_in, tokens_out, detail):
                self._deliver(stream, Usage(tokens_in, tokens_out, detail))
                if self._awaiting_usage:  # the usage that follows the reply's end: now the turn can end
                    self._cancel_ending()
                    self._deliver(stream, TurnEnd("END_TURN"))
            case ev.ToolUse():
                # Answered even for a stale block: the model waits on every toolUse it sends.
                task = asyncio.create_task(self._answer_tool(stream, out))
                stream.tool_calls.add(task)
                task.add_done_callback(stream.tool_calls.discard)
            case _:
                pass

    def _end_turn(self, stream: _Stream, reason: str, *, wait_usage: bool = True) -> None:
        """The reply is over. A reply that ended normally waits (briefly) for the usage event that follows it, so
        the turn's tokens are counted with the turn; an interrupted one ends at once (barge-in must be prompt)."""
        if stream is not self._stream or self._turn is None:
            return
        self._cancel_ending()
        if reason != "END_TURN" or not wait_usage:
            self._deliver(stream, TurnEnd(reason))
            return
        self._awaiting_usage = True
        self._ending = asyncio.get_running_loop().call_later(
            self.settings.nova_usage_grace_ms / 1000, self._end_now, stream)

    def _end_now(self, stream: _Stream) -> None:
        self._ending, self._awaiting_usage = None, False
        self._deliver(stream, TurnEnd("END_TURN"))

    def _await_finals(self, stream: _Stream) -> None:
        """The last audio is out but not every segment's FINAL text: the service sends those as the reply is
        played, so wait for them until the audio relayed has had time to play (plus a second), then end anyway."""
        if self._ending is not None:
            return
        due = self._reply.played_by() - self.adapter.clock() + 1.0
        self._ending = asyncio.get_running_loop().call_later(max(0.0, due), self._end_now, stream)

    def _cancel_ending(self) -> None:
        if self._ending is not None:
            self._ending.cancel()
        self._ending, self._awaiting_usage = None, False

    async def _answer_tool(self, stream: _Stream, use: ev.ToolUse) -> None:
        """Run the tool the model asked for and send its result block (errors are results too, see ToolBox)."""
        started = self.adapter.clock()
        result = await self.adapter.tools.run(use.name, use.input)
        log.info("tool %s (%s) answered in %.0f ms", use.name, use.tool_use_id,
                 (self.adapter.clock() - started) * 1000)
        if stream.closed or stream.failure is not None:
            return
        try:
            await self._send_block(stream, ev.tool_result_events(stream.prompt_name, f"tool-{uuid.uuid4()}",
                                                                 use.tool_use_id, result))
        except Exception as exc:
            self._fail(stream, classify(exc))

    def _current(self, stream: _Stream, content_id: str) -> bool:
        """Does this content block belong to the turn being relayed now? (Unknown blocks are given the benefit.)"""
        content = stream.contents.get(content_id)
        return content is None or content.turn == self._turn_seq

    async def _ready_stream(self) -> _Stream:
        stream = self._stream
        if stream is None or stream.failure is not None or stream.closed or handover_due(
                stream.opened_at, self.adapter.clock(), self.settings.nova_handover_seconds):
            self._stream = await self._open()
            if stream is not None:
                self._retire(stream)
        assert self._stream is not None
        return self._stream

    def _retire(self, stream: _Stream) -> None:
        """Close a stream in the background (hand-over or failure); `close()` waits for these."""
        if stream.closed:
            return
        task = asyncio.create_task(self._close_stream(stream))
        self._retired.add(task)
        task.add_done_callback(self._retired.discard)

    async def run_turn(self, audio: AsyncIterator[bytes]) -> AsyncIterator[BackendEvent]:
        """Relay one user turn and yield the reply as it streams (see BackendSession.run_turn)."""
        stream = await self._ready_stream()
        queue: asyncio.Queue[BackendEvent | BackendError] = asyncio.Queue()
        self._turn = queue
        self._turn_seq += 1
        self._voiced = False  # has this turn's reply produced audio yet?
        self._heard = False  # has the model transcribed this turn's speech yet?
        self._reply = ev.ReplyProgress()
        self._cancel_ending()
        try:
            self._user_speaking = True
            try:
                ended = False
                async for frame in audio:
                    if stream.failure is not None:
                        raise stream.failure
                    ended = turn_ended(audio)
                    # End of the user's turn: silence at once, so the model's end-of-speech detection starts now;
                    # in the same event as the last frame when that is known (one event and one write fewer
                    # between the user's last word and the model hearing the pause).
                    pause = self._silence(self.settings.nova_end_pause_ms)
                    await self._send_audio(stream, frame + pause if ended else frame)
                if not ended:
                    await self._send_audio(stream, self._silence(self.settings.nova_end_pause_ms))
            except BackendError:
                raise
            except Exception as exc:
                raise classify(exc) from exc
            finally:
                self._user_speaking = False
            while self._pending_usage:
                yield self._pending_usage.pop(0)
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), self.settings.turn_timeout_seconds)
                except TimeoutError as exc:
                    error = BackendError("Nova Sonic produced no output in time", code="timeout")
                    self._fail(stream, error)  # a stalled stream is not reused
                    raise error from exc
                if isinstance(item, BackendError):
                    raise item
                if self._turn is not queue and not isinstance(item, TurnEnd):
                    continue  # barged in: what was already queued is not played
                yield item
                if isinstance(item, TurnEnd):
                    return
        finally:
            if self._turn is queue:
                self._turn = None

    async def barge_in(self) -> None:
        """Stop relaying this reply now; the model hears the user's new speech itself and stops generating."""
        if self._turn is not None:
            self._turn.put_nowait(TurnEnd("INTERRUPTED"))
            self._turn = None

    async def _close_stream(self, stream: _Stream) -> None:
        if stream.closed:
            return
        stream.closed = True
        if stream.pump is not None:
            stream.pump.cancel()
        for call in list(stream.tool_calls):
            call.cancel()
        # Bounded: the runtime gives a closing backend 2 s, and a congested connection must not hold a session.
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_SECONDS):
                if stream.failure is None:
                    for event in ev.closing_events(stream.prompt_name, stream.audio_content):
                        await self._send(stream, event)
                await stream.duplex.input_stream.close()
        if stream.receiver is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(stream.receiver, CLOSE_SECONDS / 2)
            stream.receiver.cancel()

    async def close(self) -> None:
        """End the stream in protocol order (audio contentEnd, promptEnd, sessionEnd) and release it."""
        self._turn = None
        if self._stream is not None:
            await self._close_stream(self._stream)
        for task in list(self._retired):
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await task
