"""What CloudWatch (or a local stand-in) says: gate statistics over a window, and alarm states.

A MetricSource is a one-method interface (STYLE.md 2). CloudWatchMetricSource asks GetMetricData for the gate's
statistic over the whole window (extended statistics such as p95 go in `Stat`); SampleMetricSource computes the
same statistic from raw samples with the pure functions of control_plane.rollout.gates, for the embedded stack
and tests (moto computes no percentiles). Sources are looked up by name in SOURCES.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from control_plane.alarms.basis import AlarmSnapshot
from control_plane.aws.session import aws_call
from control_plane.rollout.gates import Observation, Window, compute_statistic
from registry.errors import InputRefused, InvalidInput, UnknownName, clipped
from registry.input_file import read_input

MAX_SAMPLES_BYTES = 256 * 1024 * 1024  # checked before reading: a /dev/zero or a stray dump cannot fill memory
SAMPLE_LINE = ('one JSON object per line: {"namespace": ..., "metric": ..., "dimensions": {...}, '
               '"timestamp": "2026-05-01T12:00:00+00:00", "value": 123}')


@dataclass(frozen=True)
class MetricQuery:
    namespace: str
    metric: str
    dimensions: Mapping[str, str]
    statistic: str
    window: Window


class MetricSource(Protocol):
    def observe(self, query: MetricQuery) -> Observation:
        """The statistic over the query's window; Observation(None) when there is no data."""
        ...


def _combine(statistic: str, values: Sequence[float], counts: Sequence[float]) -> float:
    """Several period datapoints -> one value over the window (exact for simple statistics)."""
    if statistic in ("Sum", "SampleCount"):
        return float(sum(values))
    if statistic == "Minimum":
        return min(values)
    if statistic == "Average" and len(counts) == len(values) and sum(counts) > 0:
        return sum(v * c for v, c in zip(values, counts, strict=True)) / sum(counts)
    # Percentiles cannot be merged exactly: the worst period's value is the conservative answer for `below`.
    return max(values)


def cloudwatch_period(window: Window) -> int:
    """One period covering the window, in the granularity CloudWatch accepts for data that old: multiples of
    60 s, of 300 s once the start is over 15 days back, of 3600 s over 63 days back."""
    age_days = window.seconds / 86400
    step = 3600 if age_days > 63 else 300 if age_days > 15 else 60
    return max(step, math.ceil(window.seconds / step) * step)


@dataclass
class CloudWatchMetricSource:
    """GetMetricData over the window as (ideally) one period, with SampleCount to tell zero from no data."""

    cloudwatch: Any

    def observe(self, query: MetricQuery) -> Observation:
        if query.window.seconds <= 0:  # GetMetricData refuses StartTime == EndTime
            return Observation(None, 0, "the window is empty: the phase just started")
        period = cloudwatch_period(query.window)
        metric = {"Namespace": query.namespace, "MetricName": query.metric,
                  "Dimensions": [{"Name": k, "Value": v} for k, v in sorted(query.dimensions.items())]}
        queries = [
            {"Id": "value", "MetricStat": {"Metric": metric, "Period": period, "Stat": query.statistic},
             "ReturnData": True},
            {"Id": "count", "MetricStat": {"Metric": metric, "Period": period, "Stat": "SampleCount"},
             "ReturnData": True},
        ]
        series: dict[str, list[tuple[datetime, float]]] = {"value": [], "count": []}
        with aws_call("cloudwatch:GetMetricData"):
            paginator = self.cloudwatch.get_paginator("get_metric_data")
            for page in paginator.paginate(MetricDataQueries=queries, StartTime=query.window.start,
                                           EndTime=query.window.end, ScanBy="TimestampAscending"):
                for result in page.get("MetricDataResults", []):
                    series[result["Id"]].extend(zip(result["Timestamps"], result["Values"], strict=True))
        counts = {ts: c for ts, c in series["count"]}
        values = [v for _, v in series["value"]]
        total = int(sum(counts.values()))
        if not values or (total == 0 and query.statistic != "SampleCount"):
            return Observation(None, total, "CloudWatch returned no datapoints")
        note = f"{len(values)} periods of {period} s" if len(values) > 1 else ""
        weights = [counts.get(ts, 0.0) for ts, _ in series["value"]]
        return Observation(_combine(query.statistic, values, weights), total, note)


def _utc(text: str) -> datetime:
    """ISO 8601; a timestamp without an offset is UTC (as CloudWatch's are)."""
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Sample:
    namespace: str
    metric: str
    dimensions: Mapping[str, str]
    timestamp: datetime
    value: float


@dataclass
class SampleMetricSource:
    """Raw samples held locally (the embedded stack's metrics, or a test's); statistics computed exactly."""

    samples: list[Sample] = field(default_factory=list)

    def observe(self, query: MetricQuery) -> Observation:
        wanted = dict(query.dimensions)
        values = [s.value for s in self.samples
                  if s.namespace == query.namespace and s.metric == query.metric and dict(s.dimensions) == wanted
                  and query.window.start <= s.timestamp <= query.window.end]
        try:
            value = compute_statistic(values, query.statistic)
        except ValueError as exc:
            return Observation(None, len(values), str(exc))
        return Observation(value, len(values), "" if values else "no samples in the window")

    @classmethod
    def from_file(cls, path: Path) -> SampleMetricSource:
        """JSON lines (or a JSON list) of {namespace, metric, dimensions, timestamp (ISO), value}."""
        try:
            text = read_input(path, max_bytes=MAX_SAMPLES_BYTES, kind="metric samples file").strip()
            rows = json.loads(text) if text.startswith("[") else [json.loads(ln) for ln in text.splitlines() if ln]
            return cls([Sample(r["namespace"], r["metric"], r.get("dimensions", {}), _utc(r["timestamp"]),
                               float(r["value"])) for r in rows])
        except InputRefused as exc:
            raise InvalidInput(f"cannot read metric samples from {path}: {exc.what}", where=str(path)) from exc
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInput(f"cannot read metric samples from {path}: {clipped(str(exc))}",
                               where=str(path), expected=SAMPLE_LINE) from exc


SOURCES: dict[str, Callable[[Any, str], MetricSource]] = {
    "cloudwatch": lambda clients, _arg: CloudWatchMetricSource(clients.cloudwatch),
    "samples": lambda _clients, arg: SampleMetricSource.from_file(Path(arg)),
}


def metric_source(spec: str, clients: Any) -> MetricSource:
    """`cloudwatch` or `samples:PATH`; an unknown kind is a usage error."""
    kind, _, arg = spec.partition(":")
    if kind not in SOURCES or (kind == "samples" and not arg):
        raise UnknownName("metrics source", spec, ["cloudwatch", "samples:PATH"])
    return SOURCES[kind](clients, arg)


def alarm_states(cloudwatch: Any, names: Sequence[str]) -> dict[str, str | None]:
    """StateValue of each named alarm (OK, ALARM, INSUFFICIENT_DATA), None for an alarm that does not exist."""
    return {name: snapshot.state if snapshot else None for name, snapshot in alarm_snapshots(cloudwatch, names).items()}


def alarm_snapshots(cloudwatch: Any, names: Sequence[str]) -> dict[str, AlarmSnapshot | None]:
    """State, reason and StateReasonData of each named alarm; None for an alarm that does not exist."""
    found: dict[str, AlarmSnapshot | None] = dict.fromkeys(names)
    for start in range(0, len(names), 100):  # DescribeAlarms takes at most 100 names
        with aws_call("cloudwatch:DescribeAlarms"):
            paginator = cloudwatch.get_paginator("describe_alarms")
            for page in paginator.paginate(AlarmNames=list(names[start:start + 100]), AlarmTypes=["MetricAlarm"]):
                for alarm in page.get("MetricAlarms", []):
                    found[alarm["AlarmName"]] = AlarmSnapshot(
                        alarm["AlarmName"], alarm["StateValue"], alarm.get("StateReason", ""),
                        alarm.get("StateReasonData", ""))
    return found
