"""A Transcribe streaming emulator (StartStreamTranscription) for the real aws_sdk_transcribe_streaming client.

The request body is a stream of signed event-stream frames wrapping `AudioEvent`s (raw PCM payload); the response
streams `TranscriptEvent`s: a partial result every few audio events and, once the client ends its audio, the final
result after the Behaviour's latency (Transcribe's end-of-stream finalisation). Faults: THROTTLE answers HTTP 429
LimitExceededException; STREAM_ERROR sends an InternalFailureException event; MODEL_TIMEOUT a ServiceUnavailable
event; STALL never sends the final result.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from emulators.asgi import aws_error, header
from emulators.behaviour import Behaviour, Fault
from emulators.event_stream import StreamDecoder, exception_message, json_event, unwrap_signed

PARTIAL_EVERY = 5  # audio events between partial results
UTTERANCES = ("what's the weather like today", "tell me something interesting", "book a table for two")
EXCEPTIONS = {
    Fault.STREAM_ERROR: ("InternalFailureException", "An internal error occurred (emulated)"),
    Fault.MODEL_TIMEOUT: ("ServiceUnavailableException", "Service is currently unavailable (emulated)"),
    Fault.THROTTLE: ("LimitExceededException", "Too many concurrent streams (emulated)"),
}


def transcript_event(text: str, *, partial: bool, result_id: str, end_time: float) -> bytes:
    """A TranscriptEvent as Transcribe sends it (one result, one alternative)."""
    result = {"ResultId": result_id, "StartTime": 0.0, "EndTime": round(end_time, 3), "IsPartial": partial,
              "Alternatives": [{"Transcript": text, "Items": []}], "ChannelId": "ch_0"}
    return json_event("TranscriptEvent", {"Transcript": {"Results": [result]}})


class TranscribeEmulator:
    """The ASGI handler for `POST /stream-transcription`."""

    def __init__(self, behaviour: Behaviour | None = None) -> None:
        self.behaviour = behaviour or Behaviour()
        self.sessions = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if self.behaviour.take_connect_fault() is Fault.THROTTLE:
            await aws_error(send, 429, "LimitExceededException", "You have reached your limit of concurrent streams")
            return
        rate = int(header(scope, "x-amzn-transcribe-sample-rate", "16000") or 16000)
        self.sessions += 1
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/vnd.amazon.eventstream"),
            (b"x-amzn-request-id", str(uuid.uuid4()).encode()),
            (b"x-amzn-transcribe-session-id", str(uuid.uuid4()).encode())]})
        decoder = StreamDecoder()
        result_id = str(uuid.uuid4())
        audio_bytes = 0
        events = 0
        text = UTTERANCES[self.sessions % len(UTTERANCES)]
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            for frame in decoder.feed(message.get("body", b"")):
                inner = unwrap_signed(frame)
                if inner is None or inner.headers.get(":event-type") != "AudioEvent":
                    continue
                audio_bytes += len(inner.payload)
                events += 1
                if events % PARTIAL_EVERY == 0:
                    words = text.split()[: max(1, events // PARTIAL_EVERY)]
                    await send({"type": "http.response.body", "more_body": True, "body": transcript_event(
                        " ".join(words), partial=True, result_id=result_id, end_time=audio_bytes / (2 * rate))})
            if not message.get("more_body", False):
                break
        delay, fault = self.behaviour.next_turn()
        await asyncio.sleep(delay)
        if fault is Fault.STALL:
            await asyncio.Event().wait()
        if fault is not None:
            exc_type, msg = EXCEPTIONS[fault]
            body = exception_message(exc_type, msg)
        else:
            body = transcript_event(text, partial=False, result_id=result_id, end_time=audio_bytes / (2 * rate))
        await send({"type": "http.response.body", "body": body, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
