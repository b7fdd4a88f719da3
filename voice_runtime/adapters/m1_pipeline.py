"""The M1 baseline: Transcribe streaming -> Claude on Bedrock (ConverseStream) -> Polly, speaking from the first
complete sentence of the reply rather than after the whole reply.

Speech-to-text uses aws-sdk-transcribe-streaming 0.12.0 (see `pipeline_stages`; `amazon-transcribe` is deprecated by
AWS). Polly returns PCM at 16 kHz at most (its documented limit for `pcm`), so audio is resampled to the runtime's
24 kHz as it streams. While one sentence is being spoken the LLM keeps streaming the next on a worker thread.

Also here, M1's own transport: the SSE encoding of a turn and a tiny ASGI handler for the baseline's POST-and-SSE
path, which answers 410 Gone with upgrade instructions once the variant is deprecated (memo Phase 4).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

from voice_runtime.adapters.backend_settings import BackendSettings
from voice_runtime.adapters.base import (
    AudioChunk,
    BackendError,
    BackendEvent,
    SessionContext,
    Transcript,
    TurnEnd,
    Usage,
)
from voice_runtime.adapters.pcm import Upsampler16To24
from voice_runtime.adapters.pipeline_stages import Boto3Backends, ConverseStage, TranscribeStage, classify_aws
from voice_runtime.adapters.sentences import SentenceChunker

POLLY_RATE = 16_000
POLLY_CHUNK = 3_200  # 100 ms of 16 kHz audio per read
HISTORY_MESSAGES = 12


async def interruptible[T](source: AsyncIterator[T], barged: asyncio.Event) -> AsyncIterator[T]:
    """Items of `source` until it ends or `barged` is set, whichever first (barge-in never waits for a chunk)."""
    barge = asyncio.ensure_future(barged.wait())
    try:
        while not barged.is_set():
            step = asyncio.ensure_future(anext(source))
            done, _ = await asyncio.wait({step, barge}, return_when=asyncio.FIRST_COMPLETED)
            if step not in done:
                step.cancel()
                with contextlib.suppress(BaseException):
                    await step
                return
            try:
                yield step.result()
            except StopAsyncIteration:
                return
    finally:
        barge.cancel()
        with contextlib.suppress(BaseException):
            await source.aclose()  # type: ignore[attr-defined]


class PipelineSession:
    """A cascaded STT -> LLM -> TTS conversation; subclasses say how a sentence becomes 24 kHz audio."""

    service = "pipeline"

    def __init__(self, adapter: PipelineAdapter, ctx: SessionContext) -> None:
        self.adapter = adapter
        self.ctx = ctx
        self.settings = adapter.settings
        self.history: list[dict[str, Any]] = []
        self._barged = asyncio.Event()
        self.closed = False

    @property
    def system_prompt(self) -> str:
        if self.ctx.system_prompt:
            return self.ctx.system_prompt
        return self.settings.system_prompts.get(self.ctx.config.system_prompt_key or "",
                                                self.settings.default_system_prompt)

    def speak(self, sentence: str, stop: threading.Event) -> AsyncIterator[bytes]:
        raise NotImplementedError

    async def run_turn(self, audio: AsyncIterator[bytes]) -> AsyncIterator[BackendEvent]:
        """Transcribe the turn, stream the reply sentence by sentence into speech (see BackendSession.run_turn)."""
        if self.closed:
            raise BackendError(f"{self.service} session is closed", retryable=False)
        self._barged.clear()
        text = await self.adapter.transcribe.transcribe(audio)
        yield Transcript("user", text)
        if not text:
            yield TurnEnd("NO_SPEECH")
            return
        self.history = [*self.history[-HISTORY_MESSAGES:], {"role": "user", "content": [{"text": text}]}]
        stop = threading.Event()
        usage: dict[str, int] = {}
        reply: list[str] = []
        try:
            async for sentence in interruptible(self._sentences(usage, stop, reply), self._barged):
                async for pcm in interruptible(self.speak(sentence, stop), self._barged):
                    if pcm:
                        yield AudioChunk(pcm)
        except BackendError:
            raise
        except Exception as exc:
            raise classify_aws(exc, self.service) from exc
        finally:
            stop.set()
        said = "".join(reply).strip()
        if said:
            self.history.append({"role": "assistant", "content": [{"text": said}]})
        if self._barged.is_set():
            yield TurnEnd("INTERRUPTED")
            return
        yield Transcript("assistant", said)
        yield Usage(usage.get("input", 0), usage.get("output", 0))
        yield TurnEnd("END_TURN")

    async def _sentences(self, usage: dict[str, int], stop: threading.Event, reply: list[str]) -> AsyncIterator[str]:
        chunker = SentenceChunker()
        async for delta in self.adapter.converse.deltas(self.history, self.system_prompt, usage, stop):
            reply.append(delta)
            for sentence in chunker.feed(delta):
                yield sentence
        if rest := chunker.flush():
            yield rest

    async def barge_in(self) -> None:
        self._barged.set()

    async def close(self) -> None:
        self.closed = True
        self._barged.set()


class PipelineAdapter:
    """Shared by the M1 and CSM adapters: the STT and LLM stages and the boto3 clients."""

    name = "pipeline"
    session_class: type[PipelineSession] = PipelineSession

    def __init__(self, settings: Any = None) -> None:
        self.settings = BackendSettings.of(settings)
        self.backends = Boto3Backends(self.settings)
        self.transcribe = TranscribeStage(self.settings)
        self.converse = ConverseStage(self.settings, self.backends)

    async def open_session(self, ctx: SessionContext) -> PipelineSession:
        return self.session_class(self, ctx)

    async def aclose(self) -> None:
        await self.transcribe.aclose()
        self.backends.close()


class M1Session(PipelineSession):
    service = "M1 pipeline"

    def speak(self, sentence: str, stop: threading.Event) -> AsyncIterator[bytes]:
        """Polly PCM for one sentence, resampled 16 -> 24 kHz as it streams."""
        polly = self.adapter.backends.client("polly", "polly")
        settings = self.settings

        def chunks() -> Iterator[bytes]:
            response = polly.synthesize_speech(Text=sentence, OutputFormat="pcm", SampleRate=str(POLLY_RATE),
                                               VoiceId=settings.polly_voice_id, Engine=settings.polly_engine)
            body = response["AudioStream"]
            try:
                resampler = Upsampler16To24()
                for chunk in body.iter_chunks(POLLY_CHUNK):
                    yield resampler.feed(chunk)
                yield resampler.flush()
            finally:
                body.close()

        return self.adapter.backends.iterate(chunks, stop)


class M1PipelineAdapter(PipelineAdapter):
    """BackendAdapter for backend `m1_pipeline` (the transcribe-polly-baseline variant)."""

    name = "m1_pipeline"
    session_class = M1Session


# --------------------------------------------------------------------------------------------- SSE transport (M1)


def sse_frame(event: BackendEvent) -> bytes:
    """One BackendEvent as a server-sent event (`event:` name, JSON `data:`; audio base64)."""
    match event:
        case AudioChunk(pcm):
            name, data = "audio", {"pcm": base64.b64encode(pcm).decode("ascii"), "rate": 24_000}
        case Transcript(role, text, final):
            name, data = "transcript", {"role": role, "text": text, "final": final}
        case Usage(tokens_in, tokens_out, _):
            name, data = "usage", {"input_tokens": tokens_in, "output_tokens": tokens_out}
        case TurnEnd(reason):
            name, data = "turn_end", {"reason": reason}
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def gone_response(variant: str, websocket_url: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """410 Gone for a deprecated SSE variant, telling the client how to upgrade (memo Phase 4)."""
    body = {"error": "gone", "variant": variant,
            "message": f"The SSE voice endpoint for '{variant}' has been retired.",
            "upgrade": {"transport": "websocket", "url": websocket_url,
                        "instructions": "Open a WebSocket to the url above and send audio as binary frames; "
                                        "see docs/protocol.md. Update the client SDK to the M2 release."}}
    headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store"),
               (b"link", f'<{websocket_url}>; rel="alternate"'.encode())]
    return 410, headers, json.dumps(body).encode()


async def sse_turn_handler(scope: dict[str, Any], receive: Any, send: Any, *, variant: str, deprecated: bool,
                           websocket_url: str, run_turn: Callable[[AsyncIterator[bytes]], Awaitable[
                               AsyncIterator[BackendEvent]]]) -> None:
    """ASGI: POST the turn's 16 kHz PCM, read the reply as SSE; 410 Gone once the variant is deprecated."""
    if deprecated:
        status, headers, body = gone_response(variant, websocket_url)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return

    async def audio() -> AsyncIterator[bytes]:
        while True:
            message = await receive()
            if message.get("body"):
                yield message["body"]
            if message["type"] == "http.disconnect" or not message.get("more_body", False):
                return

    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})
    try:
        async for event in await run_turn(audio()):
            await send({"type": "http.response.body", "body": sse_frame(event), "more_body": True})
    except BackendError as exc:
        error = json.dumps({"code": exc.code, "retryable": exc.retryable, "message": str(exc)})
        await send({"type": "http.response.body", "body": f"event: error\ndata: {error}\n\n".encode(),
                    "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
