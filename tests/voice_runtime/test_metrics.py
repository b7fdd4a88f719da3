"""Metric sinks: EMF documents CloudWatch accepts, PutMetricData into moto, fan-out isolation; protocol parsing."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from moto import mock_aws

from voice_runtime import protocol
from voice_runtime.metrics import (
    BARGE_IN,
    SESSION_ERROR,
    TTFA,
    CallbackSink,
    CloudWatchSink,
    EmfSink,
    FanOutSink,
    InMemorySink,
    Sample,
)
from voice_runtime.protocol import ErrorCode, ProtocolError

NOW = datetime.now(UTC).timestamp()


def test_emf_lines_have_variant_dimension_only_and_raw_values() -> None:
    stream = io.StringIO()
    sink = EmfSink(stream=stream)
    for value in (120.0, 180.0, 950.0):
        sink.record(Sample.of(TTFA, value, "sonic-unified", NOW))
    sink.record(Sample.of(SESSION_ERROR, 1, "sonic-unified", NOW))
    sink.record(Sample.of(BARGE_IN, 1, "transcribe-polly-baseline", NOW))
    assert sink.drain(10)  # written by the sink's background thread
    docs = [json.loads(line) for line in stream.getvalue().splitlines()]
    by_variant = {d["Variant"]: d for d in docs}
    sonic = by_variant["sonic-unified"]
    directive = sonic["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "SilentInfinity/Voice"
    assert directive["Dimensions"] == [["Variant"]]  # alarms select {Variant: x} exactly
    assert {m["Name"]: m["Unit"] for m in directive["Metrics"]} == {TTFA: "Milliseconds", SESSION_ERROR: "Count"}
    assert sonic[TTFA] == [120.0, 180.0, 950.0]
    assert by_variant["transcribe-polly-baseline"][BARGE_IN] == [1.0]


def test_emf_flushes_before_powertools_own_100_value_limit() -> None:
    stream = io.StringIO()
    sink = EmfSink(stream=stream)
    for i in range(250):
        sink.record(Sample.of(TTFA, i, "v", NOW))
    assert sink.drain(10)
    docs = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert sum(len(d[TTFA]) for d in docs) == 250 and max(len(d[TTFA]) for d in docs) < 100


@mock_aws
def test_cloudwatch_sink_puts_raw_samples() -> None:
    cw = boto3.client("cloudwatch", region_name="us-east-1")
    sink = CloudWatchSink(cw, background=True)
    # Stamped now, not at import: the suite reaches this test minutes after collection, and the query below
    # only looks 5 minutes back.
    now = datetime.now(UTC).timestamp()
    for value in (100.0, 200.0, 300.0):
        sink.record(Sample.of(TTFA, value, "sonic-unified", now))
    sink.flush()
    assert sink.drain(30) and sink.failures == 0
    stats = cw.get_metric_statistics(
        Namespace="SilentInfinity/Voice", MetricName=TTFA, Dimensions=[{"Name": "Variant", "Value": "sonic-unified"}],
        # Around the samples' own time (NOW is taken at import, which can be minutes before this test runs).
        StartTime=datetime.fromtimestamp(NOW, UTC) - timedelta(minutes=5),
        EndTime=datetime.fromtimestamp(NOW, UTC) + timedelta(minutes=5),
        Period=60, Statistics=["SampleCount", "Average"],
    )
    points = stats["Datapoints"]
    assert sum(p["SampleCount"] for p in points) == 3
    sink.flush()  # nothing buffered: no call, no error
    sink.drain()
    assert sink.failures == 0


def test_cloudwatch_sink_failure_is_counted_not_raised() -> None:
    class Down:
        def put_metric_data(self, **kwargs: object) -> None:
            raise ConnectionError("CloudWatch unreachable")

    for background in (False, True):
        sink = CloudWatchSink(Down(), background=background)
        sink.record(Sample.of(TTFA, 1, "v", NOW))
        sink.flush()
        sink.drain()
        assert sink.failures == 1


def test_fan_out_isolates_a_failing_sink() -> None:
    memory = InMemorySink()
    seen: list[Sample] = []

    class Broken:
        def record(self, sample: Sample) -> None:
            raise RuntimeError("disk full")

        def flush(self) -> None:
            raise RuntimeError("disk full")

    sink = FanOutSink([Broken(), memory, CallbackSink(seen.append)])
    sink.record(Sample.of(TTFA, 1, "v", NOW))
    sink.flush()
    assert memory.values(TTFA) == [1.0] and len(seen) == 1


@pytest.mark.parametrize(
    ("text", "code"),
    [
        pytest.param("{", ErrorCode.INVALID_JSON, id="truncated"),
        pytest.param('"start"', ErrorCode.INVALID_JSON, id="not-an-object"),
        pytest.param('{"type": 3}', ErrorCode.UNKNOWN_TYPE, id="numeric-type"),
        pytest.param('{"type": "start", "subject": "x" }'.replace('"x"', '"' + "x" * 129 + '"'),
                     ErrorCode.INVALID_MESSAGE, id="subject-too-long"),
        pytest.param('{"type": "start", "subject": "u", "internal": "yes"}', ErrorCode.INVALID_MESSAGE,
                     id="internal-not-bool"),
    ],
)
def test_protocol_rejects_with_the_documented_code(text: str, code: ErrorCode) -> None:
    with pytest.raises(ProtocolError) as info:
        protocol.parse_text(text)
    assert info.value.code == code


def test_protocol_parses_start_and_ignores_unknown_fields() -> None:
    message = protocol.parse_text('{"type":"start","subject":"u","sdk_version":"2.3","future":1}')
    assert isinstance(message, protocol.StartMessage) and message.sdk_version == "2.3"
    assert protocol.parse_text('{"type":"ping","id":"x"}') == protocol.Control("ping", "x")
