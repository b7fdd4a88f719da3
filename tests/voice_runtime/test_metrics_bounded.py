"""Metric sinks with a stuck writer: record/flush return at once, the queue is bounded, drops are counted and
logged once a minute, draining is bounded."""

from __future__ import annotations

import io
import logging
import threading
from datetime import UTC, datetime

import pytest

from tests.voice_runtime.support import FakeClock
from voice_runtime.metrics import TTFA, CloudWatchSink, EmfSink, FanOutSink, Sample

NOW = datetime.now(UTC).timestamp()


class StuckStream(io.StringIO):
    """A stream whose writes block until released (a pipe nobody reads)."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.entered = threading.Event()

    def write(self, text: str) -> int:
        self.entered.set()
        self.release.wait(30)
        return super().write(text)


class HungCloudWatch:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.calls = 0

    def put_metric_data(self, **kwargs: object) -> None:
        self.calls += 1
        self.entered.set()
        self.release.wait(30)


def test_emf_with_a_stuck_stream_drops_counts_and_logs_once_a_minute(
    clock: FakeClock, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="voice_runtime.metrics")
    stream = StuckStream()
    sink = EmfSink(stream=stream, queue_limit=2, clock=clock)
    try:
        for i in range(10):  # one document per flush: 1 in the writer, 2 queued, 7 refused
            sink.record(Sample.of(TTFA, i, "v", NOW))
            sink.flush()
            if i == 0:
                assert stream.entered.wait(10)  # the writer holds the first document, stuck
        stats = sink.stats()
        assert stats.dropped_samples == 7 and stats.queued == 3
        assert sink.drain(0.05) is False  # bounded: the writer is still stuck
        clock.advance(61)
        sink.record(Sample.of(TTFA, 99, "v", NOW))
        sink.flush()
        drops = [r.getMessage() for r in caplog.records if r.getMessage().startswith("metrics: dropped")]
        assert drops == ["metrics: dropped 1 samples (EMF writer stuck: is stdout read?); 1 since start",
                         "metrics: dropped 7 samples (EMF writer stuck: is stdout read?); 8 since start"]
    finally:
        stream.release.set()
    assert sink.drain(10) is True
    assert len(stream.getvalue().splitlines()) == 3  # what was queued got written once the reader came back


def test_cloudwatch_hanging_never_blocks_flush_and_drain_is_bounded(clock: FakeClock) -> None:
    cw = HungCloudWatch()
    sink = CloudWatchSink(cw, background=True, queue_limit=1, clock=clock)
    try:
        for i in range(5):
            sink.record(Sample.of(TTFA, i, "v", NOW))
            sink.record(Sample.of(TTFA, i, "v", NOW))
            sink.flush()
            if i == 0:
                assert cw.entered.wait(10)  # the first batch is in PutMetricData, hung
        assert sink.stats().dropped_samples == 6  # one batch in flight, one queued, three refused
        fan = FanOutSink([sink])
        assert fan.drain(0.05) is False
        assert fan.stats() == {"cloudwatch": sink.stats().to_json()}
    finally:
        cw.release.set()
    assert sink.drain(10) is True and cw.calls == 2
