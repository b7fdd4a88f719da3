"""Emulators for the request/response backends of the M1 and CSM pipelines, for real boto3 calls:

* Bedrock ConverseStream: an event stream of messageStart, contentBlockDelta (a few words each), contentBlockStop,
  messageStop and metadata; the first delta comes after the Behaviour's latency (time to first token).
* Polly SynthesizeSpeech: `audio/pcm` at the requested SampleRate (8/16 kHz, as Polly allows for pcm), ~55 ms of
  voiced audio per character.
* SageMaker InvokeEndpointWithResponseStream: CSM-1B's 24 kHz PCM in `PayloadPart` events whose sizes are odd on
  purpose (a part may end mid-sample, as a real model server's may).

moto is not used for these: its Polly SynthesizeSpeech answers 8 zero bytes whatever the text (no audio, no
latency), and it has no ConverseStream or SageMaker response stream.

Faults: THROTTLE answers 429 ThrottlingException; STREAM_ERROR sends the service's modelled stream error mid-way;
MODEL_TIMEOUT answers 424 ModelTimeout / ModelStreamError; STALL stops sending and leaves the response open.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from emulators.asgi import aws_error, read_body
from emulators.audio import split, voiced_pcm
from emulators.behaviour import Behaviour, Fault
from emulators.event_stream import event_message, exception_message, json_event

REPLY = ("Sure, here is what I found. The forecast says sunny with a light breeze. "
         "Would you like the hourly details as well?")
WORDS_PER_DELTA = 3
PART_BYTES = 4801  # odd on purpose: parts end mid-sample


async def _start_stream(send: Any, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"application/vnd.amazon.eventstream"), (b"x-amzn-requestid", b"emulated-request"),
        *(extra or [])]})


async def _chunk(send: Any, body: bytes) -> None:
    await send({"type": "http.response.body", "body": body, "more_body": True})


async def _end(send: Any) -> None:
    await send({"type": "http.response.body", "body": b"", "more_body": False})


# Each service's own error for an injected fault: (HTTP status, AWS error code, message).
ErrorTable = dict[Fault, tuple[int, str, str]]


async def answer_fault(send: Any, fault: Fault | None, delay: float, errors: ErrorTable) -> bool:
    """Answer an injected fault the way the service does (a model timeout only after its delay).

    True when the request was answered with an error and the handler must stop."""
    if fault is None or fault not in errors:
        return False
    if fault is Fault.MODEL_TIMEOUT:
        await asyncio.sleep(delay)
    await aws_error(send, *errors[fault])
    return True


class _JsonEndpoint:
    """An emulated service endpoint taking a JSON request: its behaviour (latency, faults) and the requests seen."""

    def __init__(self, behaviour: Behaviour | None = None) -> None:
        self.behaviour = behaviour or Behaviour()
        self.requests: list[dict[str, Any]] = []

    async def read_request(self, receive: Any) -> dict[str, Any]:
        request: dict[str, Any] = json.loads(await read_body(receive) or b"{}")
        self.requests.append(request)
        return request


def speech_ms(behaviour: Behaviour, text: str) -> int:
    """How long the synthesized speech for `text` lasts (bounded: 200 ms to 10 s per request)."""
    return min(10_000, max(200, round(behaviour.speech_ms_per_char * len(text))))


class ConverseEmulator(_JsonEndpoint):
    """`POST /model/{modelId}/converse-stream`."""

    def __init__(self, behaviour: Behaviour | None = None, reply: str = REPLY) -> None:
        super().__init__(behaviour)
        self.reply = reply

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.read_request(receive)  # recorded for the tests; the reply does not depend on it
        delay, fault = self.behaviour.next_turn()
        if await answer_fault(send, fault, delay, {
                Fault.THROTTLE: (429, "ThrottlingException", "Too many requests, please wait (emulated)"),
                Fault.MODEL_TIMEOUT: (408, "ModelTimeoutException", "Model timed out (emulated)")}):
            return
        await _start_stream(send)
        await _chunk(send, json_event("messageStart", {"role": "assistant"}))
        await asyncio.sleep(delay)
        words = self.reply.split(" ")
        deltas = [" ".join(words[i:i + WORDS_PER_DELTA]) + " " for i in range(0, len(words), WORDS_PER_DELTA)]
        for index, text in enumerate(deltas):
            if fault in (Fault.STREAM_ERROR, Fault.STALL) and index == len(deltas) // 2:
                if fault is Fault.STALL:
                    await asyncio.Event().wait()
                await _chunk(send, exception_message("modelStreamErrorException", "Model stream error (emulated)"))
                await _end(send)
                return
            await _chunk(send, json_event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": text}}))
            await asyncio.sleep(0)
        await _chunk(send, json_event("contentBlockStop", {"contentBlockIndex": 0}))
        await _chunk(send, json_event("messageStop", {"stopReason": "end_turn"}))
        await _chunk(send, json_event("metadata", {
            "usage": {"inputTokens": 40, "outputTokens": len(words) + 4, "totalTokens": 44 + len(words)},
            "metrics": {"latencyMs": int(delay * 1000)}}))
        await _end(send)


class PollyEmulator(_JsonEndpoint):
    """`POST /v1/speech` (SynthesizeSpeech, OutputFormat pcm)."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        request = await self.read_request(receive)
        # As documented for Polly: pcm output is 8000 or 16000 Hz only (24000 is for mp3 / ogg_vorbis).
        if request.get("OutputFormat") != "pcm" or str(request.get("SampleRate", "16000")) not in {"8000", "16000"}:
            await aws_error(send, 400, "InvalidSampleRateException", "pcm supports SampleRate 8000 or 16000")
            return
        delay, fault = self.behaviour.next_turn()
        failed = (500, "ServiceFailureException", "Polly failed (emulated)")
        # Polly is request/response: a timeout or a stream error both surface at once as a service failure.
        if await answer_fault(send, fault, 0.0, {
                Fault.THROTTLE: (400, "ThrottlingException", "Rate exceeded (emulated)"),
                Fault.MODEL_TIMEOUT: failed, Fault.STREAM_ERROR: failed}):
            return
        rate = int(request.get("SampleRate", 16000))
        text = str(request.get("Text", ""))
        pcm = voiced_pcm(speech_ms(self.behaviour, text), rate)
        await asyncio.sleep(delay)
        if fault is Fault.STALL:
            await asyncio.Event().wait()
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"audio/pcm"), (b"x-amzn-requestcharacters", str(len(text)).encode()),
            (b"content-length", str(len(pcm)).encode())]})
        for part in split(pcm, rate * 2 // 10):  # 100 ms per body chunk, as a streamed HTTP body
            await _chunk(send, part)
        await _end(send)


class SageMakerStreamEmulator(_JsonEndpoint):
    """`POST /endpoints/{name}/invocations-response-stream` serving a CSM-1B-like text-to-speech model."""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        request = await self.read_request(receive)
        delay, fault = self.behaviour.next_turn()
        if await answer_fault(send, fault, delay, {
                Fault.THROTTLE: (429, "ThrottlingException", "Rate exceeded (emulated)"),
                Fault.MODEL_TIMEOUT: (424, "ModelError", "Model container timed out (emulated)")}):
            return
        text = str(request.get("text", ""))
        pcm = voiced_pcm(speech_ms(self.behaviour, text), 24_000, pitch_hz=180.0)
        await _start_stream(send, [(b"x-amzn-sagemaker-content-type", b"audio/pcm"),
                                   (b"x-amzn-invoked-production-variant", b"AllTraffic")])
        await asyncio.sleep(delay)
        parts = split(pcm, PART_BYTES)
        for index, part in enumerate(parts):
            if fault in (Fault.STREAM_ERROR, Fault.STALL) and index == len(parts) // 2:
                if fault is Fault.STALL:
                    await asyncio.Event().wait()
                await _chunk(send, exception_message("ModelStreamError", "StreamBroken (emulated)"))
                await _end(send)
                return
            await _chunk(send, event_message("PayloadPart", part, content_type="application/octet-stream"))
            await asyncio.sleep(0)
        await _end(send)
