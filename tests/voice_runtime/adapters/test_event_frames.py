"""The framed EventReceiver against the SDK's own AWSEventReceiver, on the same bytes, however they are chunked."""

from __future__ import annotations

import asyncio
import base64
import functools
import io
import json
import struct
from binascii import crc32
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aws_sdk_bedrock_runtime.config import AsyncBedrockRuntimeConfig
from aws_sdk_bedrock_runtime.models import (
    BidirectionalInputPayloadPart,
    InvokeModelWithBidirectionalStreamInputChunk,
    InvokeModelWithBidirectionalStreamOutputChunk,
    _InvokeModelWithBidirectionalStreamOutputDeserializer,
)
from hypothesis import given, settings
from hypothesis import strategies as st
from smithy_aws_event_stream._private.serializers import EventSerializer
from smithy_aws_event_stream.aio import AWSEventPublisher, AWSEventReceiver
from smithy_aws_event_stream.events import Event, EventMessage
from smithy_core.aio.types import AsyncBytesReader

from emulators.event_stream import error_message, event_message, exception_message, json_event
from voice_runtime.adapters.event_frames import (
    FramedEventReceiver,
    FrameError,
    FrameSplitter,
    PlainInputSerializer,
    plain_event,
)
from voice_runtime.adapters.nova_sonic import NovaSonicAdapter, NovaSonicProtocol


def chunk_frame(event: dict[str, Any]) -> bytes:
    """A Bedrock output `chunk` frame carrying one Nova Sonic event, as the service frames it."""
    inner = json.dumps({"event": event}).encode()
    return json_event("chunk", {"bytes": base64.b64encode(inner).decode("ascii")})


AUDIO = chunk_frame({"audioOutput": {"contentId": "c1", "content": base64.b64encode(bytes(1920)).decode()}})
TEXT = chunk_frame({"textOutput": {"contentId": "c2", "role": "ASSISTANT", "content": "hello"}})
STREAM = [TEXT, AUDIO, TEXT, event_message("someFutureEvent", b'{"x":1}'), AUDIO]
FAILURES = [exception_message("modelTimeoutException", "slow"), exception_message("throttlingException", "busy"),
            exception_message("validationException", "bad order"), error_message("InternalFailure", "boom")]


@functools.cache
def protocol() -> NovaSonicProtocol:
    """The protocol as the SDK builds it from the class (with the service's own settings)."""
    config = asyncio.run(AsyncBedrockRuntimeConfig.resolve(protocol=NovaSonicProtocol, region="us-east-1"))
    assert isinstance(config.protocol, NovaSonicProtocol)
    return config.protocol


async def pieces(data: bytes, cuts: list[int]) -> AsyncIterator[bytes]:
    pos = 0
    for size in [*cuts, len(data)]:
        if pos < len(data):
            yield data[pos:pos + size]
            pos += size


async def drain(receiver: Any) -> list[Any]:
    """Everything a receiver yields, an exception it raises standing in as (type name, message) at the end."""
    out: list[Any] = []
    while True:
        try:
            item = await receiver.receive()
        except Exception as exc:
            return [*out, (type(exc).__name__, str(exc))]
        if item is None:
            return out
        out.append(item)


def sdk_receiver(data: bytes) -> AWSEventReceiver[Any]:
    return AWSEventReceiver(payload_codec=protocol().payload_codec, source=AsyncBytesReader(data),
                            deserializer=_InvokeModelWithBidirectionalStreamOutputDeserializer().deserialize)


def framed_receiver(data: bytes, cuts: list[int]) -> FramedEventReceiver:
    return FramedEventReceiver(pieces(data, cuts), payload_codec=protocol().payload_codec,
                               deserializer=_InvokeModelWithBidirectionalStreamOutputDeserializer().deserialize,
                               fast=NovaSonicProtocol.fast_events)


@settings(max_examples=40)
@given(cuts=st.lists(st.integers(min_value=1, max_value=5000), max_size=12),
       failure=st.sampled_from([None, *FAILURES]))
def test_framed_receiver_yields_what_the_sdk_receiver_yields(cuts: list[int], failure: bytes | None) -> None:
    data = b"".join(STREAM) + (failure or b"")
    expected = asyncio.run(drain(sdk_receiver(data)))
    got = asyncio.run(drain(framed_receiver(data, cuts)))
    assert got == expected
    assert isinstance(got[1], InvokeModelWithBidirectionalStreamOutputChunk)
    assert json.loads(got[1].value.bytes_)["event"]["audioOutput"]["contentId"] == "c1"
    if failure is not None:
        assert isinstance(got[-1], tuple)  # the modelled exception or error was raised, as the SDK raises it


def test_a_stream_cut_inside_a_frame_is_an_error_not_a_silent_end() -> None:
    data = TEXT + AUDIO[:100]
    got = asyncio.run(drain(framed_receiver(data, [len(TEXT)])))
    assert isinstance(got[0], InvokeModelWithBidirectionalStreamOutputChunk)
    assert got[1][0] == "FrameError" and "100 bytes" in got[1][1]


@given(st.lists(st.integers(min_value=1, max_value=300), max_size=30))
def test_splitter_returns_each_frame_whole_however_bytes_arrive(cuts: list[int]) -> None:
    frames = [TEXT, AUDIO, *FAILURES]
    data, splitter, got, pos = b"".join(frames), FrameSplitter(), [], 0
    for size in [*cuts, len(data)]:
        got += list(splitter.feed(data[pos:pos + size]))
        pos += size
    assert got == frames and splitter.pending == 0


def test_splitter_rejects_a_length_below_the_frame_minimum() -> None:
    with pytest.raises(FrameError, match="below the 16-byte minimum"):
        list(FrameSplitter().feed(b"\x00\x00\x00\x05" + bytes(12)))


def test_the_nova_sonic_client_is_configured_with_the_framed_protocol() -> None:
    async def configured() -> Any:
        adapter = NovaSonicAdapter({"backend_endpoint_url": "https://127.0.0.1:9"})
        try:
            return (await adapter.client())._config.protocol
        finally:
            await adapter.aclose()

    assert isinstance(asyncio.run(configured()), NovaSonicProtocol)


def test_a_transport_failure_surfaces_as_the_sdk_receiver_reports_it_and_closes_the_receiver() -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield TEXT
        raise ConnectionResetError("peer reset")

    receiver = FramedEventReceiver(broken(), payload_codec=protocol().payload_codec,
                                   deserializer=_InvokeModelWithBidirectionalStreamOutputDeserializer().deserialize,
                                   fast=NovaSonicProtocol.fast_events)
    got = asyncio.run(drain(receiver))
    assert isinstance(got[0], InvokeModelWithBidirectionalStreamOutputChunk)
    assert got[1] == ("OSError", "Failed to read from stream.")
    assert receiver.closed and asyncio.run(receiver.receive()) is None


def sdk_decoded(frame: bytes) -> tuple[str, bytes] | None:
    """What smithy's own decoder makes of a frame, in plain_event's terms (None: not a plain event, or refused)."""
    try:
        event = Event.decode(io.BytesIO(frame))
    except Exception:
        return None
    assert event is not None
    headers = event.message.headers
    if headers.get(":message-type") != "event" or ":event-type" not in headers \
            or not all(isinstance(v, str) for v in headers.values()):
        return None
    return str(headers[":event-type"]), event.message.payload


HEADER_NAMES = st.sampled_from([":message-type", ":event-type", ":content-type", ":exception-type", "x-other"])
HEADER_VALUES = st.one_of(st.sampled_from(["event", "exception", "error", "chunk", "audioOutput"]),
                          st.text(max_size=40), st.integers(-2**31, 2**31 - 1), st.binary(max_size=8),
                          st.booleans())


# Mostly frames a service would send (an event type, string headers), with every other header type mixed in.
HEADERS = st.builds(lambda extra, base: {**extra, **base},
                    st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=3),
                    st.fixed_dictionaries({":message-type": st.sampled_from(["event", "event", "exception", "error"])},
                                          optional={":event-type": st.text(max_size=20)}))


@settings(max_examples=300)
@given(headers=HEADERS, payload=st.binary(max_size=300))
def test_plain_event_reads_what_smithy_decodes_and_declines_the_rest(headers: dict[str, Any], payload: bytes) -> None:
    frame = EventMessage(headers=headers, payload=payload).encode()
    assert plain_event(frame) == sdk_decoded(frame)


@settings(max_examples=200)
@given(position=st.integers(min_value=0), flip=st.integers(min_value=1, max_value=255))
def test_plain_event_declines_any_damaged_frame(position: int, flip: int) -> None:
    damaged = bytearray(AUDIO)
    damaged[position % len(damaged)] ^= flip
    assert plain_event(bytes(damaged)) is None
    assert plain_event(AUDIO) == sdk_decoded(AUDIO) and plain_event(AUDIO) is not None


def test_plain_event_declines_a_duplicate_header_and_a_truncated_one() -> None:
    def frame_with(header_bytes: bytes) -> bytes:
        total = 12 + len(header_bytes) + 4
        prelude = struct.pack(">II", total, len(header_bytes))
        head = prelude + struct.pack(">I", crc32(prelude)) + header_bytes
        return head + struct.pack(">I", crc32(head))

    def string_header(name: bytes, value: bytes) -> bytes:
        return bytes([len(name)]) + name + b"\x07" + struct.pack(">H", len(value)) + value

    good = string_header(b":message-type", b"event") + string_header(b":event-type", b"chunk")
    assert plain_event(frame_with(good)) == ("chunk", b"")
    duplicate = good + string_header(b":event-type", b"other")
    assert plain_event(frame_with(duplicate)) is None and sdk_decoded(frame_with(duplicate)) is None
    truncated = good + string_header(b"x-cut", b"value")[:-2]
    assert plain_event(frame_with(truncated)) is None
    not_utf8 = good + string_header(b"x-other", b"\xff\xfe")
    assert plain_event(frame_with(not_utf8)) is None and sdk_decoded(frame_with(not_utf8)) is None


def test_a_damaged_frame_is_reported_by_the_framed_receiver_as_the_sdk_reports_it() -> None:
    damaged = bytearray(AUDIO)
    damaged[len(damaged) // 2] ^= 0x20
    data = TEXT + bytes(damaged)
    assert asyncio.run(drain(framed_receiver(data, []))) == asyncio.run(drain(sdk_receiver(data)))
    assert asyncio.run(drain(framed_receiver(data, [])))[-1][0] == "ChecksumMismatch"


def sdk_serialized(event: Any) -> bytes:
    """An input event as the SDK's own event serializer writes it (encoded, before signing)."""
    serializer = EventSerializer(payload_codec=protocol().payload_codec)
    event.serialize(serializer)
    result = serializer.get_result()
    assert result is not None
    return result.encode()


def input_chunk_of(data: bytes | None) -> InvokeModelWithBidirectionalStreamInputChunk:
    return InvokeModelWithBidirectionalStreamInputChunk(value=BidirectionalInputPayloadPart(bytes_=data))


@settings(max_examples=100)
@given(st.one_of(st.none(), st.binary(max_size=5000)))
def test_plain_input_chunks_are_the_bytes_the_sdk_serializer_writes(data: bytes | None) -> None:
    plain = PlainInputSerializer(EventSerializer(payload_codec=protocol().payload_codec),
                                 NovaSonicProtocol.plain_inputs, protocol().payload_codec.media_type)
    event = input_chunk_of(data)
    event.serialize(plain)  # type: ignore[arg-type]
    result = plain.get_result()
    assert result is not None and result.encode() == sdk_serialized(event)


def test_events_without_a_plain_encoder_go_through_the_sdk_serializer_in_any_order() -> None:
    media_type = protocol().payload_codec.media_type
    inner = EventSerializer(payload_codec=protocol().payload_codec)
    mixed = PlainInputSerializer(inner, {}, media_type)  # nothing plain: every event is the SDK's
    plain = PlainInputSerializer(inner, NovaSonicProtocol.plain_inputs, media_type)
    for serializer, data in ((plain, b"a"), (mixed, b"b"), (plain, b"c"), (mixed, b"d")):
        event = input_chunk_of(data)
        event.serialize(serializer)  # type: ignore[arg-type]
        result = serializer.get_result()
        assert result is not None and result.encode() == sdk_serialized(event)


def test_the_nova_sonic_protocol_publishes_input_through_the_plain_serializer() -> None:
    written: list[bytes] = []

    class Body:
        async def write(self, data: bytes) -> None:
            written.append(data)

    async def publish() -> Any:
        request = type("Request", (), {"body": Body()})()
        publisher = protocol().create_event_publisher(operation=None, request=request, event_type=None,
                                                      context=None, auth_scheme=None)
        await publisher.send(input_chunk_of(b'{"event":{}}'))
        return publisher

    publisher = asyncio.run(publish())
    assert isinstance(publisher, AWSEventPublisher)
    assert isinstance(publisher._serializer, PlainInputSerializer)  # the SDK attribute the protocol relies on
    assert written == [sdk_serialized(input_chunk_of(b'{"event":{}}'))]


@functools.cache
def transcribe_protocol() -> Any:
    """Transcribe's protocol as the SDK builds it from the class."""
    from aws_sdk_transcribe_streaming.config import AsyncTranscribeStreamingConfig

    from voice_runtime.adapters.pipeline_stages import TranscribeProtocol

    config = asyncio.run(AsyncTranscribeStreamingConfig.resolve(protocol=TranscribeProtocol, region="us-east-1"))
    assert isinstance(config.protocol, TranscribeProtocol)
    return config.protocol


def transcribe_receivers(data: bytes, cuts: list[int]) -> tuple[Any, Any]:
    """The SDK's receiver and the framed one over the same Transcribe result-stream bytes."""
    from aws_sdk_transcribe_streaming.models import _TranscriptResultStreamDeserializer

    from voice_runtime.adapters.pipeline_stages import TranscribeProtocol

    codec = transcribe_protocol().payload_codec
    deserialize = _TranscriptResultStreamDeserializer().deserialize
    return (AWSEventReceiver(payload_codec=codec, source=AsyncBytesReader(data), deserializer=deserialize),
            FramedEventReceiver(pieces(data, cuts), payload_codec=codec, deserializer=deserialize,
                                fast=TranscribeProtocol.fast_events))


@settings(max_examples=30)
@given(cuts=st.lists(st.integers(min_value=1, max_value=400), max_size=8),
       failure=st.sampled_from([None, exception_message("LimitExceededException", "too many streams"),
                                exception_message("BadRequestException", "bad audio")]))
def test_framed_transcribe_receiver_yields_what_the_sdk_receiver_yields(cuts: list[int], failure: bytes | None) -> None:
    from emulators.transcribe_server import transcript_event

    data = (transcript_event("hello", partial=True, result_id="r1", start_time=0.0, end_time=0.4)
            + transcript_event("hello there", partial=False, result_id="r1", start_time=0.0, end_time=0.9)
            + (failure or b""))
    sdk, framed = transcribe_receivers(data, cuts)
    expected, got = asyncio.run(drain(sdk)), asyncio.run(drain(framed))
    assert got == expected
    assert got[1].value.transcript.results[0].alternatives[0].transcript == "hello there"
    assert got[1].value.transcript.results[0].is_partial is False


def test_the_transcribe_client_is_configured_with_the_framed_protocol() -> None:
    from voice_runtime.adapters.backend_settings import BackendSettings
    from voice_runtime.adapters.pipeline_stages import TranscribeProtocol, TranscribeStage

    async def configured() -> Any:
        stage = TranscribeStage(BackendSettings(backend_endpoint_url="https://127.0.0.1:9"))
        try:
            return (await stage.client())._config.protocol
        finally:
            await stage.aclose()

    assert isinstance(asyncio.run(configured()), TranscribeProtocol)
