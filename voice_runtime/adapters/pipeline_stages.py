"""The stages the M1 and CSM pipelines share: speech-to-text (Transcribe streaming) and the LLM (Bedrock
ConverseStream), plus the boto3 plumbing and error mapping both need.

Transcribe uses aws-sdk-transcribe-streaming 0.12.0, AWS's maintained smithy-based SDK (HTTP/2 duplex over CRT).
The older `amazon-transcribe` package is deprecated by AWS and not used. ConverseStream, Polly and SageMaker are
called with boto3 as the issue asks; their calls block, so they run on a dedicated thread pool and stream back
through an asyncio queue (the loop never blocks on a socket).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar

import boto3
from aws_sdk_transcribe_streaming.client import AsyncTranscribeStreamingClient
from aws_sdk_transcribe_streaming.config import AsyncTranscribeStreamingConfig
from aws_sdk_transcribe_streaming.models import (
    AudioEvent,
    AudioStreamAudioEvent,
    BadRequestException,
    LimitExceededException,
    StartStreamTranscriptionInput,
    TranscriptEvent,
    TranscriptResultStreamTranscriptEvent,
)
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectTimeoutError, ReadTimeoutError
from smithy_core.codecs import Codec
from urllib3.exceptions import ReadTimeoutError as Urllib3ReadTimeout

from voice_runtime.adapters.backend_settings import BackendSettings
from voice_runtime.adapters.base import BackendError
from voice_runtime.adapters.crt_transport import credentials_resolver, crt_client
from voice_runtime.adapters.event_frames import FastDecoder, FramedRestJsonProtocol

T = TypeVar("T")
THROTTLE_CODES = {"ThrottlingException", "TooManyRequestsException", "LimitExceededException", "Throttling",
                  "ServiceQuotaExceededException"}
TIMEOUT_CODES = {"ModelTimeoutException", "ModelError", "RequestTimeout"}
_DONE = object()


def _timed_out(exc: BaseException) -> bool:
    """Is a timeout anywhere in the chain? (a stalled response stream surfaces wrapped by botocore/urllib3)"""
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return False
        if isinstance(seen, (ReadTimeoutError, ConnectTimeoutError, TimeoutError, Urllib3ReadTimeout)):
            return True
        seen = getattr(seen, "error", None) or seen.__cause__ or seen.__context__
    return False


def classify_aws(exc: BaseException, service: str) -> BackendError:
    """A boto3 / smithy failure -> BackendError with a stable code (throttled, timeout, stream_error, ...)."""
    if isinstance(exc, BackendError):
        return exc
    code = ""
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
    name = type(exc).__name__
    if code in THROTTLE_CODES or isinstance(exc, LimitExceededException) or "Throttl" in name:
        return BackendError(f"{service} throttled: {exc}", code="throttled")
    if code in TIMEOUT_CODES or _timed_out(exc):
        return BackendError(f"{service} timed out: {exc}", code="timeout")
    if isinstance(exc, BadRequestException) or code.startswith("Invalid") or code == "ValidationException":
        return BackendError(f"{service} rejected the request: {exc}", retryable=False, code="invalid_request")
    if isinstance(exc, (ClientError, BotoCoreError)):
        return BackendError(f"{service} failed: {exc}", code="stream_error")
    return BackendError(f"{service} failed: {name}: {exc}", code="stream_error")


class Boto3Backends:
    """Lazily built boto3 clients for the pipeline backends, sharing one thread pool for their blocking calls."""

    def __init__(self, settings: BackendSettings) -> None:
        self.settings = settings
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.pool = ThreadPoolExecutor(max_workers=settings.blocking_workers, thread_name_prefix="voice-boto3")

    def client(self, service: str, endpoint_key: str) -> Any:
        with self._lock:
            if service not in self._clients:
                # One attempt: a failed turn is retried by the runtime on the baseline, not here.
                config = Config(retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=5,
                                read_timeout=self.settings.turn_timeout_seconds,
                                max_pool_connections=self.settings.blocking_workers)
                self._clients[service] = boto3.session.Session().client(
                    service, region_name=self.settings.region, endpoint_url=self.settings.endpoint(endpoint_key),
                    verify=self.settings.emulator_ca_file or True, config=config)
            return self._clients[service]

    async def call(self, fn: Callable[..., T], /, **kwargs: Any) -> T:
        """Run a blocking boto3 call on the pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, lambda: fn(**kwargs))

    async def iterate(self, make: Callable[[], Iterator[T]], stop: threading.Event) -> AsyncIterator[T]:
        """Drain a blocking iterator on the pool, yielding items as they arrive; `stop` (the turn's) or the consumer
        going away abandons it early."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        abandoned = threading.Event()

        def pump() -> None:
            try:
                for item in make():
                    loop.call_soon_threadsafe(queue.put_nowait, item)
                    if stop.is_set() or abandoned.is_set():
                        break
                loop.call_soon_threadsafe(queue.put_nowait, _DONE)
            except BaseException as exc:  # handed to the loop and re-raised there
                loop.call_soon_threadsafe(queue.put_nowait, exc)

        future = loop.run_in_executor(self.pool, pump)
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            abandoned.set()
            if future.done():
                with contextlib.suppress(BaseException):
                    future.result()

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def transcript_event(payload: bytes, codec: Codec) -> TranscriptResultStreamTranscriptEvent:
    """The result stream's `TranscriptEvent` from its JSON payload, through the SDK's own model deserializer."""
    return TranscriptResultStreamTranscriptEvent(value=TranscriptEvent.deserialize(codec.create_deserializer(payload)))


class TranscribeProtocol(FramedRestJsonProtocol):
    """Transcribe streaming's restJson1 with output frames read whole (adapters.event_frames): `TranscriptEvent`s
    skip the SDK's event-stream layers (small awaits per frame part, a header deserializer) and go straight to the
    model's own deserializer; exceptions and anything else take the SDK's path."""

    fast_events: ClassVar[Mapping[str, FastDecoder]] = MappingProxyType({"TranscriptEvent": transcript_event})


class TranscribeStage:
    """Speech to text for one turn over a Transcribe streaming session (opened as the user starts speaking)."""

    def __init__(self, settings: BackendSettings) -> None:
        self.settings = settings
        self._clients: dict[int, AsyncTranscribeStreamingClient] = {}
        self._lock = asyncio.Lock()
        self._turns = 0

    async def client(self) -> AsyncTranscribeStreamingClient:
        """Round-robin over `crt_connections` clients (one connection each, one shared CRT event loop)."""
        self._turns += 1
        index = self._turns % max(1, self.settings.crt_connections)
        async with self._lock:
            if index not in self._clients:
                overrides: dict[str, Any] = {"region": self.settings.region, "protocol": TranscribeProtocol,
                                             "transport": crt_client(self.settings.emulator_ca_file,
                                                                     nodelay=self.settings.crt_nodelay)}
                if url := self.settings.endpoint("transcribe"):
                    overrides["endpoint_uri"] = url
                if resolver := credentials_resolver():
                    overrides["aws_credentials_identity_resolver"] = resolver
                config = await AsyncTranscribeStreamingConfig.resolve(**overrides)
                self._clients[index] = AsyncTranscribeStreamingClient(config=config)
            return self._clients[index]

    async def transcribe(self, audio: AsyncIterator[bytes]) -> str:
        """Stream the turn's 16 kHz PCM; return the final transcript once Transcribe has finalised it."""
        client = await self.client()
        try:
            stream = await client.start_stream_transcription(StartStreamTranscriptionInput(
                language_code=self.settings.transcribe_language, media_sample_rate_hertz=16_000,
                media_encoding="pcm"))
            # The response (or its refusal, e.g. 429 LimitExceeded) can come while we are still sending; a refused
            # stream never drains what we wrote, so every write and the close race the response.
            output = asyncio.ensure_future(stream.await_output())
            try:
                async for frame in audio:
                    await self._unless_refused(
                        stream.input_stream.send(AudioStreamAudioEvent(value=AudioEvent(audio_chunk=frame))), output)
                # End of audio: Transcribe finalises and ends its results.
                await self._unless_refused(stream.input_stream.close(), output)
                _, results = await asyncio.wait_for(output, self.settings.turn_timeout_seconds)
            finally:
                output.cancel()
            finals: list[str] = []
            while True:
                event = await asyncio.wait_for(results.receive(), self.settings.turn_timeout_seconds)
                if event is None:
                    break
                if isinstance(event, TranscriptResultStreamTranscriptEvent):
                    transcript = event.value.transcript
                    for result in (transcript.results if transcript else None) or []:
                        if not result.is_partial and result.alternatives:
                            finals.append(result.alternatives[0].transcript or "")
            return " ".join(t for t in finals if t).strip()
        except BackendError:
            raise
        except Exception as exc:
            raise classify_aws(exc, "Transcribe streaming") from exc

    async def _unless_refused(self, step: Awaitable[None], output: asyncio.Future[Any]) -> None:
        """Await `step`, unless the response fails first (then raise its error); bounded by the turn timeout."""
        task = asyncio.ensure_future(step)
        done, _ = await asyncio.wait({task, output}, timeout=self.settings.turn_timeout_seconds,
                                     return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()
            return
        if output in done and output.exception() is not None:
            task.cancel()
            output.result()  # raises the service's error
        if output in done:  # the response has started: the write just has to finish
            await asyncio.wait_for(task, self.settings.turn_timeout_seconds)
            return
        task.cancel()
        raise TimeoutError("Transcribe stream did not accept audio in time")

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            with contextlib.suppress(Exception):
                await client.close()


class ConverseStage:
    """The LLM turn: Bedrock ConverseStream (boto3), streamed as text deltas with usage at the end."""

    def __init__(self, settings: BackendSettings, backends: Boto3Backends) -> None:
        self.settings = settings
        self.backends = backends

    def deltas(self, messages: list[dict[str, Any]], system: str, usage: dict[str, int],
               stop: threading.Event) -> AsyncIterator[str]:
        """Text deltas of the reply; `usage` is filled from the metadata event."""
        client = self.backends.client("bedrock-runtime", "bedrock")

        def events() -> Iterator[str]:
            response = client.converse_stream(modelId=self.settings.llm_model_id, messages=messages,
                                              system=[{"text": system}],
                                              inferenceConfig={"maxTokens": 400, "temperature": 0.5})
            stream = response["stream"]
            try:
                for event in stream:
                    if stop.is_set():
                        return
                    if "contentBlockDelta" in event:
                        text = event["contentBlockDelta"]["delta"].get("text")
                        if text:
                            yield text
                    elif "metadata" in event:
                        tokens = event["metadata"].get("usage", {})
                        usage["input"] = int(tokens.get("inputTokens", 0))
                        usage["output"] = int(tokens.get("outputTokens", 0))
            finally:
                stream.close()

        return self.backends.iterate(events, stop)
