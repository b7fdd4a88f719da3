"""A Transcribe streaming emulator (StartStreamTranscription) for the real aws_sdk_transcribe_streaming client.

The request body is a stream of signed event-stream frames wrapping `AudioEvent`s (raw PCM payload); the response
streams `TranscriptEvent`s as the service does (tests/fixtures/transcribe/SOURCES.md cites each behaviour):

* results per utterance: speech opens a segment (its own ResultId and StartTime); partial results for it follow
  as its audio arrives, paced by audio time (one every PARTIAL_EVERY_S of speech), each with more of the text;
  a pause ends the segment with its final result (IsPartial false, its EndTime), so a stream of several
  utterances gets several finals, and the end of the client's audio finalises the segment still open;
* no speech, no result: audio that is all silence is never transcribed;
* no audio for `Behaviour.idle_timeout_s` (the service's 15 s): BadRequestException "Your request timed out
  because no new audio was received for 15 seconds.";
* the response headers the API reference lists (request id, session id, language code, sample rate, media
  encoding, echoing the request's).

Faults: THROTTLE answers HTTP 429 LimitExceededException; STREAM_ERROR sends an InternalFailureException event;
MODEL_TIMEOUT a ServiceUnavailableException event; STALL never sends the final result.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from typing import Any

from emulators.asgi import aws_error, header
from emulators.audio import voiced_windows
from emulators.behaviour import Behaviour, Fault
from emulators.event_stream import StreamDecoder, exception_message, json_event, unwrap_signed

PARTIAL_EVERY_S = 0.3  # seconds of speech audio between partial results
SEGMENT_PAUSE_S = 1.0  # a pause this long ends an utterance (the service segments on pauses; length not documented)
NO_AUDIO_TIMEOUT_S = 15.0
WINDOW_S = 0.02
SPEECH_LEVEL = 200.0
UTTERANCES = ("what's the weather like today", "tell me something interesting", "book a table for two")
EXCEPTIONS = {
    Fault.STREAM_ERROR: ("InternalFailureException", "An internal error occurred (emulated)"),
    Fault.MODEL_TIMEOUT: ("ServiceUnavailableException", "Service is currently unavailable (emulated)"),
    Fault.THROTTLE: ("LimitExceededException", "Too many concurrent streams (emulated)"),
}


def transcript_event(text: str, *, partial: bool, result_id: str, start_time: float, end_time: float) -> bytes:
    """A TranscriptEvent as Transcribe sends it (one result, one alternative)."""
    result = {"ResultId": result_id, "StartTime": round(start_time, 3), "EndTime": round(end_time, 3),
              "IsPartial": partial, "Alternatives": [{"Transcript": text, "Items": []}], "ChannelId": "ch_0"}
    return json_event("TranscriptEvent", {"Transcript": {"Results": [result]}})


@dataclass
class Segment:
    """One utterance being transcribed."""

    text: str
    start: float
    result_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    speech: float = 0.0  # seconds of speech heard in it
    partials: int = 0
    end: float = 0.0

    def words(self) -> str:
        words = self.text.split()
        return " ".join(words[: max(1, min(len(words), self.partials))])


@dataclass
class Segmenter:
    """Audio time -> segment events (pure): ("partial" | "final", segment) as speech and pauses arrive."""

    texts: tuple[str, ...]
    pause_s: float = SEGMENT_PAUSE_S
    clock: float = 0.0  # seconds of audio heard
    silence: float = 0.0
    open: Segment | None = None
    count: int = 0

    def feed(self, voiced: list[bool]) -> list[tuple[str, Segment]]:
        out: list[tuple[str, Segment]] = []
        for flag in voiced:
            self.clock += WINDOW_S
            segment = self.open
            if flag:
                if segment is None:
                    segment = self.open = Segment(self.texts[self.count % len(self.texts)], self.clock - WINDOW_S)
                    self.count += 1
                self.silence = 0.0
                segment.speech += WINDOW_S
                segment.end = self.clock
                if segment.speech >= (segment.partials + 1) * PARTIAL_EVERY_S - 1e-9:
                    segment.partials += 1
                    out.append(("partial", segment))
            elif segment is not None:
                self.silence += WINDOW_S
                if self.silence >= self.pause_s - 1e-9:
                    out.append(("final", segment))
                    self.open = None
        return out

    def close(self) -> list[tuple[str, Segment]]:
        """The client's audio ended: the open segment is final."""
        segment, self.open = self.open, None
        return [("final", segment)] if segment is not None else []


class TranscribeEmulator:
    """The ASGI handler for `POST /stream-transcription`."""

    def __init__(self, behaviour: Behaviour | None = None) -> None:
        self.behaviour = behaviour or Behaviour(idle_timeout_s=NO_AUDIO_TIMEOUT_S)
        self.sessions = 0
        self.results: list[list[tuple[str, bool]]] = []  # per stream, (text, is_partial) of each result sent

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if self.behaviour.take_connect_fault() is Fault.THROTTLE:
            await aws_error(send, 429, "LimitExceededException", "You have reached your limit of concurrent streams")
            return
        rate = int(header(scope, "x-amzn-transcribe-sample-rate", "16000") or 16000)
        self.sessions += 1
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"application/vnd.amazon.eventstream"),
            (b"x-amzn-request-id", str(uuid.uuid4()).encode()),
            (b"x-amzn-transcribe-session-id", str(uuid.uuid4()).encode()),
            (b"x-amzn-transcribe-language-code", header(scope, "x-amzn-transcribe-language-code", "en-US").encode()),
            (b"x-amzn-transcribe-sample-rate", str(rate).encode()),
            (b"x-amzn-transcribe-media-encoding", header(scope, "x-amzn-transcribe-media-encoding", "pcm").encode())]})
        sent: list[tuple[str, bool]] = []
        self.results.append(sent)
        first = self.sessions % len(UTTERANCES)
        segmenter = Segmenter(UTTERANCES[first:] + UTTERANCES[:first])
        window = max(2, int(rate * WINDOW_S) * 2)

        async def emit(body: bytes, text: str = "", partial: bool = False) -> None:
            if text:
                sent.append((text, partial))
            await send({"type": "http.response.body", "body": body, "more_body": True})

        async def result(kind: str, segment: Segment) -> None:
            final = kind == "final"
            if final:
                delay, fault = self.behaviour.next_turn()
                await asyncio.sleep(delay)
                if fault is Fault.STALL:
                    await asyncio.Event().wait()
                if fault is not None:
                    exc_type, msg = EXCEPTIONS[fault]
                    await emit(exception_message(exc_type, msg, "Message"))
                    raise _Ended
            text = segment.text if final else segment.words()
            await emit(transcript_event(text, partial=not final, result_id=segment.result_id,
                                        start_time=segment.start, end_time=segment.end), text, not final)

        decoder = StreamDecoder()
        try:
            while True:
                try:
                    message = await asyncio.wait_for(receive(), self.behaviour.idle_timeout_s)
                except TimeoutError:
                    await emit(exception_message("BadRequestException", "Your request timed out because no new "
                                                 "audio was received for 15 seconds.", "Message"))
                    raise _Ended from None
                if message["type"] == "http.disconnect":
                    return
                for frame in decoder.feed(message.get("body", b"")):
                    inner = unwrap_signed(frame)
                    if inner is None or inner.headers.get(":event-type") != "AudioEvent":
                        continue
                    for kind, segment in segmenter.feed(voiced_windows(inner.payload, window, SPEECH_LEVEL)):
                        await result(kind, segment)
                if not message.get("more_body", False):
                    break
            for kind, segment in segmenter.close():
                await result(kind, segment)
        except _Ended:
            pass
        await send({"type": "http.response.body", "body": b"", "more_body": False})


class _Ended(Exception):
    """The stream ended with an exception event (already sent)."""

