"""Event-stream output read in whole frames: a faster EventReceiver for the smithy-based SDKs.

The SDKs' AWSEventReceiver reads every frame in several small awaits (prelude, headers, payload, CRC) through
AsyncBytesReader and turns each into a shape through the generic schema deserializer, whose runtime-checkable
Protocol isinstance checks dominate. Measured here on a Nova Sonic audioOutput frame (3.6 kB): 73 us per event, and
a Nova Sonic turn carries ~27 of them; through the real transport at 30 concurrent sessions that was the runtime's
largest CPU cost. `FramedEventReceiver` instead splits whole frames out of the chunks the transport delivers and
reads each in one synchronous call: 26 us for the same frame with smithy's own codec (`Event.decode`), less with
`plain_event`, a one-pass reader of the frames a service sends most (modelled events with string headers).

It plugs in through the SDK's documented hook, the config's `protocol` (a protocol class is instantiated with the
SDK's own settings): `FramedRestJsonProtocol` is the stock RestJsonClientProtocol with this receiver, and with
`PlainInputSerializer` in the SDK's event publisher for the input side. Event types
listed in `fast_events` are built straight from their JSON payload; every other message (modelled exceptions,
errors, other event types) goes through the SDK's own AWSEventReceiver one frame at a time, so it comes out, or is
raised, exactly as the SDK would. tests/voice_runtime/adapters/test_event_frames.py checks both paths against the
SDK's receiver on the same bytes.
"""

from __future__ import annotations

import struct
from binascii import crc32
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from typing import Any, ClassVar

from smithy_aws_core.aio.protocols import RestJsonClientProtocol
from smithy_aws_event_stream.aio import AWSEventPublisher, AWSEventReceiver
from smithy_aws_event_stream.events import MAX_HEADERS_LENGTH, MAX_PAYLOAD_LENGTH, EventMessage
from smithy_core.aio.interfaces.eventstream import EventPublisher, EventReceiver
from smithy_core.aio.types import AsyncBytesReader
from smithy_core.codecs import Codec
from smithy_core.deserializers import ShapeDeserializer

PRELUDE_LENGTH = 4  # the total-length field that opens every frame (big-endian uint32)
MIN_FRAME = 16  # prelude (12) + message CRC (4)
_PRELUDE = struct.Struct(">III")  # total length, headers length, prelude CRC
_CRC = struct.Struct(">I")
_VALUE_LENGTH = struct.Struct(">H")
_STRING = 7  # the event-stream header value type of a UTF-8 string

FastDecoder = Callable[[bytes, Codec], Any]  # a JSON event payload (+ the protocol's codec) -> the output union member
PlainEncoder = Callable[[Any], tuple[str, bytes]]  # an input union member -> (event type, JSON payload)


class FrameError(ValueError):
    """The byte stream is not valid event-stream framing (a length below the minimum, or truncated at the end)."""


class FrameSplitter:
    """Feed bytes in whatever pieces they arrive; get back each whole frame's bytes."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        """Add `data` and return every frame it completes, in order (eagerly: a caller that stops early or an error
        after some frames must not leave frames behind to be returned twice)."""
        buffer = self._buffer
        buffer.extend(data)
        frames: list[bytes] = []
        start, end = 0, len(buffer)
        try:
            while end - start >= PRELUDE_LENGTH:
                (total,) = struct.unpack_from(">I", buffer, start)
                if total < MIN_FRAME:
                    raise FrameError(f"event-stream frame declares {total} bytes, below the {MIN_FRAME}-byte minimum")
                if end - start < total:
                    break
                frames.append(bytes(buffer[start:start + total]))
                start += total
        finally:
            del buffer[:start]  # one compaction per feed, not one per frame
        return frames

    @property
    def pending(self) -> int:
        """Bytes held that do not yet make a whole frame."""
        return len(self._buffer)


def plain_event(frame: bytes) -> tuple[str, bytes] | None:
    """(event type, payload) of one whole frame if it is an intact `:message-type event` whose headers are all
    strings, which is what a service's modelled events are; None for anything else.

    The same checks as smithy's `Event.decode` (both CRCs, lengths, size limits, no duplicate header), in one pass
    over the header bytes instead of a decoder object per header: 3.2 us per Nova Sonic audio frame against 11.9 us
    (in isolation; ~21 us in a profile of the busy runtime), on ~27 output events per turn. Whatever it declines
    (exceptions, errors, other header types, a damaged frame) the caller hands to the SDK's own decoder, so it is
    decoded, or its fault reported, exactly as the SDK does.
    """
    size = len(frame)
    if size < MIN_FRAME:
        return None
    total, headers_length, prelude_crc = _PRELUDE.unpack_from(frame)
    end = 12 + headers_length
    if total != size or end > size - 4 or headers_length > MAX_HEADERS_LENGTH or size - end - 4 > MAX_PAYLOAD_LENGTH \
            or crc32(frame[:8]) != prelude_crc or crc32(frame[:-4]) != _CRC.unpack_from(frame, size - 4)[0]:
        return None
    headers: dict[str, str] = {}
    pos = 12
    try:
        while pos < end:
            name_end = pos + 1 + frame[pos]
            if name_end + 3 > end or frame[name_end] != _STRING:
                return None
            name = frame[pos + 1:name_end].decode()
            value_end = name_end + 3 + _VALUE_LENGTH.unpack_from(frame, name_end + 1)[0]
            if value_end > end or name in headers:
                return None
            headers[name] = frame[name_end + 3:value_end].decode()
            pos = value_end
    except UnicodeDecodeError:  # smithy refuses it too; its decoder reports it
        return None
    event_type = headers.get(":event-type")
    if headers.get(":message-type") != "event" or event_type is None:
        return None
    return event_type, frame[end:size - 4]


class FramedEventReceiver(EventReceiver[Any]):
    """An EventReceiver over a response body of byte chunks (see the module docstring)."""

    def __init__(self, body: AsyncIterable[bytes], *, payload_codec: Codec,
                 deserializer: Callable[[ShapeDeserializer], Any], fast: Mapping[str, FastDecoder]) -> None:
        self._chunks: AsyncIterator[bytes] = aiter(body)
        self._codec = payload_codec
        self._deserializer = deserializer
        self._fast = fast
        self._splitter = FrameSplitter()
        self._frames: deque[bytes] = deque()
        self._closed = False

    async def receive(self) -> Any:
        """The next output event, None at the end of the stream; a modelled exception event is raised."""
        while not self._frames:
            if self._closed:
                return None
            try:
                chunk = await anext(self._chunks, b"")
                if not chunk:
                    await self.close()
                    if self._splitter.pending:
                        raise FrameError(f"event stream ended inside a frame ({self._splitter.pending} bytes held)")
                    return None
                self._frames.extend(self._splitter.feed(chunk))
            except FrameError:
                await self.close()
                raise
            except Exception as exc:  # transport failures surface as the SDK's receiver reports them
                await self.close()
                raise OSError("Failed to read from stream.") from exc
        return await self._decode(self._frames.popleft())

    async def _decode(self, frame: bytes) -> Any:
        if self._fast and (plain := plain_event(frame)) is not None and (decode := self._fast.get(plain[0])):
            return decode(plain[1], self._codec)
        # Everything else the SDK's own way: its receiver over this one frame.
        single = AWSEventReceiver[Any](payload_codec=self._codec, source=AsyncBytesReader(frame),
                                       deserializer=self._deserializer)
        return await single.receive()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if (aclose := getattr(self._chunks, "aclose", None)) is not None:
            await aclose()

    @property
    def closed(self) -> bool:
        return self._closed


class PlainInputSerializer:
    """What the SDK's AWSEventPublisher serializes each input event with: input union members whose type is in
    `plain` become their event message directly; any other goes through the SDK's own serializer (`inner`).

    The SDK's schema-driven serializer walks the union, the member struct and its blob member through context
    managers and a JSON serializer that escapes the base64 text character by character: ~40 us per Nova Sonic
    audioInput, against a few for the same bytes written directly. tests/voice_runtime/adapters/test_event_frames.py
    checks that both give the same message.
    """

    def __init__(self, inner: Any, plain: Mapping[type, PlainEncoder], media_type: str) -> None:
        self._inner = inner
        self._plain = plain
        self._media_type = media_type
        self._result: EventMessage | None = None

    def write_struct(self, schema: Any, struct: Any) -> None:
        """The publisher's one call per event (`event.serialize(serializer)`)."""
        encode = self._plain.get(type(struct))
        if encode is None:
            self._result = None
            self._inner.write_struct(schema, struct)
            return
        event_type, payload = encode(struct)
        self._result = EventMessage(headers={":message-type": "event", ":event-type": event_type,
                                             ":content-type": self._media_type}, payload=payload)

    def get_result(self) -> EventMessage | None:
        return self._result if self._result is not None else self._inner.get_result()


class FramedRestJsonProtocol(RestJsonClientProtocol):
    """restJson1 with FramedEventReceiver for output streams and PlainInputSerializer for input streams. Subclass it
    with `fast_events` (output event type -> decoder) and `plain_inputs` (input union member type -> encoder) for an
    SDK's own event types and pass the class as the client config's `protocol`."""

    fast_events: ClassVar[Mapping[str, FastDecoder]] = {}
    plain_inputs: ClassVar[Mapping[type, PlainEncoder]] = {}

    def create_event_publisher(self, **kwargs: Any) -> EventPublisher[Any]:
        publisher = super().create_event_publisher(**kwargs)
        # The SDK's publisher keeps its serializer in `_serializer` (pinned version; the tests fail if that moves).
        if self.plain_inputs and isinstance(publisher, AWSEventPublisher):
            publisher._serializer = PlainInputSerializer(  # type: ignore[assignment]
                publisher._serializer, self.plain_inputs, self.payload_codec.media_type)
        return publisher

    def create_event_receiver(self, *, operation: Any, request: Any, response: Any, event_type: Any,
                              event_deserializer: Callable[[ShapeDeserializer], Any],
                              context: Any) -> EventReceiver[Any]:
        return FramedEventReceiver(response.body, payload_codec=self.payload_codec,
                                   deserializer=event_deserializer, fast=self.fast_events)
