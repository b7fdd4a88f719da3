"""Metric sources: CloudWatch GetMetricData (moto: simple statistics) and local raw samples (percentiles)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from control_plane.aws.metrics_source import (
    CloudWatchMetricSource,
    MetricQuery,
    Sample,
    SampleMetricSource,
    _combine,
    alarm_states,
    metric_source,
)
from control_plane.rollout.gates import Window
from registry.errors import InvalidInput, UnknownName

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
DIMS = {"Variant": "sonic-unified"}


@pytest.fixture
def cw() -> Any:
    with mock_aws():
        yield boto3.client("cloudwatch", region_name="us-east-1")


def _query(stat: str, start: datetime, end: datetime) -> MetricQuery:
    return MetricQuery("SilentInfinity/Voice", "VoiceM2_SessionError", DIMS, stat, Window(start, end))


def _put(cw: Any, values: list[float], start: datetime) -> None:
    cw.put_metric_data(Namespace="SilentInfinity/Voice", MetricData=[
        {"MetricName": "VoiceM2_SessionError", "Dimensions": [{"Name": "Variant", "Value": "sonic-unified"}],
         "Timestamp": start + timedelta(minutes=i), "Value": v} for i, v in enumerate(values)])


def test_cloudwatch_average_over_the_window(cw: Any) -> None:
    _put(cw, [0.0, 0.0, 1.0, 0.0], T0 + timedelta(minutes=1))
    observed = CloudWatchMetricSource(cw).observe(_query("Average", T0, T0 + timedelta(hours=1)))
    assert observed.value == pytest.approx(0.25)
    assert observed.sample_count == 4


def test_cloudwatch_no_data_is_none(cw: Any) -> None:
    _put(cw, [1.0], T0 - timedelta(hours=3))  # outside the window
    observed = CloudWatchMetricSource(cw).observe(_query("Average", T0, T0 + timedelta(hours=1)))
    assert observed.value is None


def test_cloudwatch_empty_window_is_no_data_without_a_call(cw: Any) -> None:
    assert CloudWatchMetricSource(cw).observe(_query("Average", T0, T0)).value is None


def test_cloudwatch_request_uses_stat_for_extended_statistics() -> None:
    class Recorder:
        """A 10-line fake: records the request, returns one period."""

        def __init__(self) -> None:
            self.calls: list[dict[str, Any]] = []

        def get_paginator(self, _name: str) -> Any:
            return self

        def paginate(self, **kw: Any) -> list[dict[str, Any]]:
            self.calls.append(kw)
            return [{"MetricDataResults": [{"Id": "value", "Timestamps": [T0], "Values": [612.0]},
                                           {"Id": "count", "Timestamps": [T0], "Values": [40.0]}]}]

    fake = Recorder()
    observed = CloudWatchMetricSource(fake).observe(_query("p95", T0, T0 + timedelta(hours=48)))
    assert observed.value == 612.0
    stats = [q["MetricStat"]["Stat"] for q in fake.calls[0]["MetricDataQueries"]]
    assert stats == ["p95", "SampleCount"]
    assert fake.calls[0]["MetricDataQueries"][0]["MetricStat"]["Period"] == 48 * 3600


@pytest.mark.parametrize(("stat", "expected"), [
    pytest.param("Average", 0.75, id="average-weighted-by-count"),
    pytest.param("Sum", 3.0, id="sum"),
    pytest.param("Minimum", 1.0, id="min"),
    pytest.param("p95", 2.0, id="percentile-worst-period"),
])
def test_combining_several_periods(stat: str, expected: float) -> None:
    if stat == "Average":
        assert _combine(stat, [0.0, 1.0], [1.0, 3.0]) == expected
    else:
        assert _combine(stat, [1.0, 2.0], [1.0, 1.0]) == expected


def test_sample_source_computes_percentiles_in_the_window() -> None:
    samples = [Sample("NS", "TTFA", DIMS, T0 + timedelta(minutes=i), float(100 + i)) for i in range(100)]
    samples.append(Sample("NS", "TTFA", {"Variant": "other"}, T0, 9999.0))
    source = SampleMetricSource(samples)
    q = MetricQuery("NS", "TTFA", DIMS, "p95", Window(T0, T0 + timedelta(hours=2)))
    assert source.observe(q).value == 194.0
    q50 = MetricQuery("NS", "TTFA", DIMS, "p50", Window(T0 + timedelta(minutes=50), T0 + timedelta(hours=2)))
    assert source.observe(q50).value == 174.0
    empty = MetricQuery("NS", "TTFA", DIMS, "p50", Window(T0 - timedelta(hours=2), T0 - timedelta(hours=1)))
    assert source.observe(empty).value is None


def test_sources_by_name(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text('{"namespace": "NS", "metric": "M", "dimensions": {}, "timestamp": "2026-05-01T09:00:00+00:00",'
                    ' "value": 5}\n')
    source = metric_source(f"samples:{path}", clients=None)
    assert isinstance(source, SampleMetricSource) and source.samples[0].value == 5.0
    with pytest.raises(UnknownName, match="unknown metrics source"):
        metric_source("prometheus", clients=None)
    (tmp_path / "bad.jsonl").write_text("{nope")
    with pytest.raises(InvalidInput, match="cannot read metric samples"):
        metric_source(f"samples:{tmp_path / 'bad.jsonl'}", clients=None)


def test_alarm_states_include_missing_alarms(cw: Any) -> None:
    cw.put_metric_alarm(AlarmName="A", MetricName="M", Namespace="NS", Statistic="Sum", Period=60,
                        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    cw.set_alarm_state(AlarmName="A", StateValue="ALARM", StateReason="test")
    assert alarm_states(cw, ["A", "B"]) == {"A": "ALARM", "B": None}


@pytest.mark.parametrize(("hours", "period"), [
    pytest.param(0.5, 1800, id="30m"), pytest.param(48, 172800, id="48h"),
    pytest.param(48 + 1 / 120, 172860, id="48h30s-rounds-up-to-a-minute"),
    pytest.param(16 * 24 + 0.1, 16 * 86400 + 600, id="16d-multiple-of-300"),
    pytest.param(70 * 24 + 0.1, 70 * 86400 + 3600, id="70d-multiple-of-3600"),
])
def test_period_covers_the_window_in_accepted_granularity(hours: float, period: int) -> None:
    from control_plane.aws.metrics_source import cloudwatch_period

    assert cloudwatch_period(Window(T0, T0 + timedelta(hours=hours))) == period


def test_sample_file_timestamps_without_offset_are_utc(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text('[{"namespace": "NS", "metric": "M", "timestamp": "2026-05-01T09:30:00", "value": 7}]')
    source = metric_source(f"samples:{path}", clients=None)
    q = MetricQuery("NS", "M", {}, "Maximum", Window(T0, T0 + timedelta(hours=1)))
    assert source.observe(q).value == 7.0
