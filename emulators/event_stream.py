"""AWS event-stream framing for the emulators (the `application/vnd.amazon.eventstream` binary format).

Encoding and decoding of single messages reuse `smithy_aws_event_stream` (the codec the SDKs themselves use); this
module adds what a server needs: an incremental decoder for bytes arriving in arbitrary pieces (the adapters'
frame splitter), unwrapping of
SigV4-signed client frames, and builders for event, exception and error messages.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

from smithy_aws_event_stream.events import Event, EventMessage

from voice_runtime.adapters.event_frames import FrameSplitter


class StreamDecoder:
    """Feed bytes as they arrive; iterate whole messages (a message may span many pieces)."""

    def __init__(self) -> None:
        self._frames = FrameSplitter()

    def feed(self, data: bytes) -> Iterator[EventMessage]:
        """Add `data` and yield every message it completes."""
        for frame in self._frames.feed(data):
            event = Event.decode(io.BytesIO(frame))
            if event is not None:
                yield event.message

    @property
    def pending(self) -> int:
        return self._frames.pending


def unwrap_signed(message: EventMessage) -> EventMessage | None:
    """A SigV4-signed client frame carries the real message as its payload; the empty signed frame ends the stream.

    Returns the inner message, the message itself when it is not signed, or None for the end-of-stream frame.
    """
    if ":chunk-signature" not in message.headers:
        return message
    if not message.payload:
        return None
    inner = Event.decode(io.BytesIO(message.payload))
    return inner.message if inner is not None else None


def event_message(event_type: str, payload: bytes, content_type: str = "application/json") -> bytes:
    """An encoded modelled event (`:message-type event`)."""
    headers: dict[str, Any] = {
        ":message-type": "event",
        ":event-type": event_type,
        ":content-type": content_type,
    }
    return EventMessage(headers=headers, payload=payload).encode()


def json_event(event_type: str, body: dict[str, Any]) -> bytes:
    """An encoded JSON event."""
    return event_message(event_type, json.dumps(body, separators=(",", ":")).encode())


def exception_message(exception_type: str, message: str, member: str = "message") -> bytes:
    """An encoded modelled exception (`:message-type exception`), as services send mid-stream failures. `member`
    is the shape's message member as the service's model names it (Bedrock `message`, Transcribe `Message`)."""
    headers: dict[str, Any] = {
        ":message-type": "exception",
        ":exception-type": exception_type,
        ":content-type": "application/json",
    }
    return EventMessage(headers=headers, payload=json.dumps({member: message}).encode()).encode()


def error_message(code: str, message: str) -> bytes:
    """An encoded unmodelled error (`:message-type error`)."""
    headers: dict[str, Any] = {":message-type": "error", ":error-code": code, ":error-message": message}
    return EventMessage(headers=headers).encode()
