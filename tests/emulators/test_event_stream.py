"""Emulator building blocks: event-stream framing, signed-frame unwrapping, behaviour, audio, certificate."""

from __future__ import annotations

import json
from array import array

from cryptography import x509
from hypothesis import given
from hypothesis import strategies as st
from smithy_aws_event_stream.events import EventMessage

from emulators.audio import mean_abs, silence, voiced_pcm, voiced_windows
from emulators.behaviour import Behaviour, Fault, Latency
from emulators.event_stream import (
    StreamDecoder,
    error_message,
    exception_message,
    json_event,
    unwrap_signed,
)
from emulators.tls import make_local_certificate


@given(st.lists(st.integers(min_value=1, max_value=64), max_size=30))
def test_decoder_yields_whole_messages_however_bytes_arrive(cuts: list[int]) -> None:
    data = b"".join(json_event("chunk", {"n": i}) for i in range(5))
    decoder = StreamDecoder()
    got, pos = [], 0
    for size in [*cuts, len(data)]:
        got += [json.loads(m.payload)["n"] for m in decoder.feed(data[pos:pos + size])]
        pos += size
    assert got == [0, 1, 2, 3, 4] and decoder.pending == 0


def test_signed_frames_unwrap_to_the_inner_message_and_the_empty_one_ends_the_stream() -> None:
    inner = EventMessage(headers={":event-type": "AudioEvent", ":message-type": "event"}, payload=b"pcm")
    signed = EventMessage(headers={":date": 0, ":chunk-signature": b"sig"}, payload=inner.encode())
    assert unwrap_signed(signed) == inner
    assert unwrap_signed(EventMessage(headers={":chunk-signature": b"sig"})) is None
    assert unwrap_signed(inner) is inner


def test_exception_and_error_messages_carry_the_aws_headers() -> None:
    [exc] = StreamDecoder().feed(exception_message("modelTimeoutException", "slow"))
    assert exc.headers[":message-type"] == "exception"
    assert exc.headers[":exception-type"] == "modelTimeoutException"
    assert json.loads(exc.payload) == {"message": "slow"}
    [err] = StreamDecoder().feed(error_message("InternalError", "boom"))
    assert (err.headers[":error-code"], err.headers[":error-message"]) == ("InternalError", "boom")


def test_scripted_faults_come_first_then_none_and_delays_are_recorded() -> None:
    behaviour = Behaviour(latency=Latency(median_ms=100))
    behaviour.inject(Fault.STREAM_ERROR)
    assert behaviour.next_turn() == (0.1, Fault.STREAM_ERROR)
    assert behaviour.next_turn() == (0.1, None)
    assert behaviour.delays == [0.1, 0.1] and behaviour.faults == [Fault.STREAM_ERROR]


def test_throttle_at_the_head_is_spent_on_the_connection() -> None:
    behaviour = Behaviour()
    behaviour.inject(Fault.THROTTLE, Fault.STALL)
    assert behaviour.take_connect_fault() is Fault.THROTTLE
    assert behaviour.take_connect_fault() is None
    assert behaviour.next_turn()[1] is Fault.STALL


def test_lognormal_latency_is_seeded_and_centred_on_the_median() -> None:
    a = Behaviour(latency=Latency(median_ms=150, sigma=0.3), seed=3)
    b = Behaviour(latency=Latency(median_ms=150, sigma=0.3), seed=3)
    draws = [a.next_turn()[0] for _ in range(2001)]
    assert draws[:10] == [b.next_turn()[0] for _ in range(10)]
    assert 0.13 < sorted(draws)[1000] < 0.17


def test_fault_rate_draws_only_the_configured_kinds() -> None:
    behaviour = Behaviour(fault_rate=0.5, fault_kinds=(Fault.MODEL_TIMEOUT,), seed=1)
    faults = {behaviour.next_turn()[1] for _ in range(200)}
    assert faults == {None, Fault.MODEL_TIMEOUT}


def test_voiced_audio_is_real_pcm_and_louder_than_silence() -> None:
    pcm = voiced_pcm(100, 24_000)
    assert len(pcm) == 2 * 2400
    samples = array("h", pcm)
    assert max(samples) > 5000 and min(samples) < -5000
    assert mean_abs(pcm) > 1000 > mean_abs(silence(100, 24_000)) == 0


def test_certificate_covers_loopback(tmp_path) -> None:  # type: ignore[no-untyped-def]
    cert = x509.load_pem_x509_certificate(make_local_certificate(tmp_path).cert_pem)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]


def test_answers_are_timed_against_the_deadline_with_a_bounded_lead() -> None:
    import asyncio
    import time

    from emulators.behaviour import TIMER_LEAD_CAP_S

    async def main() -> Behaviour:
        loop, behaviour = asyncio.get_running_loop(), Behaviour()
        for _ in range(10):
            time.sleep(0.003)  # a busy loop: the lateness it causes must not become a lead beyond the cap
            await behaviour.wait_until(loop.time() + 0.001, loop)
        return behaviour

    behaviour = asyncio.run(main())
    assert 0.0 < behaviour._oversleep <= TIMER_LEAD_CAP_S
    behaviour.record_answer(started=10.0, delay=0.15, answered=10.1495)
    behaviour.record_answer(started=10.0, delay=0.15, answered=10.152)
    assert [round(x, 4) for x in behaviour.lateness] == [-0.0005, 0.002]  # early is kept signed, not clamped


def test_synthesized_speech_length_follows_the_text_within_bounds() -> None:
    from emulators.pipeline_server import REPLY, speech_ms

    per_reply = Behaviour(speech_ms_per_char=600 / len(REPLY))  # what `--reply-ms 600` sets
    assert speech_ms(per_reply, REPLY) == 600
    assert speech_ms(Behaviour(), "Hi.") == 200 and speech_ms(Behaviour(), "x" * 1000) == 10_000


def test_the_vad_sees_where_speech_stops_inside_one_chunk() -> None:
    speech, pause = voiced_pcm(60, 16_000), silence(40, 16_000)
    assert voiced_windows(speech + pause, 640, 200.0) == [True, True, True, False, False]
    assert voiced_windows(pause + speech, 640, 200.0) == [False, False, True, True, True]
    assert voiced_windows(speech[:100], 640, 200.0) == [True]  # a short last window still counts
    assert voiced_windows(b"", 640, 200.0) == []
