"""An embedded CloudWatch that answers like AWS, behind the same endpoint URL as the rest of the local AWS.

moto serves every AWS call of the embedded stack, and does most of CloudWatch right (alarms, tags, dashboards),
but it computes no percentile (GetMetricData with `p95` answers 500: `float() argument must be ... not
'NoneType'`), ignores GetMetricStatistics' ExtendedStatistics, has no DescribeAlarmHistory and fires no action
on SetAlarmState. `CloudWatchFront` is moto's own CloudWatch request handler (same parsing and serialisation,
in every protocol botocore speaks: smithy-rpc-v2-cbor, JSON, query) with those operations answered from the
project's evaluator instead:

* PutMetricData: moto stores it (ListMetrics), and the raw values (Value, Values x Counts) go to the local
  store every statistic is computed from (control_plane.alarms.statistics, as the alarms and gates do).
* GetMetricData (MetricStat queries; a request with math expressions stays moto's) and GetMetricStatistics
  (Statistics and ExtendedStatistics): one datapoint per period holding data, periods starting at StartTime
  rounded down to the minute, GetMetricData newest first unless ScanBy says otherwise; GetMetricStatistics
  refuses more than 1,440 datapoints and StartTime >= EndTime with AWS's messages (LocalStack's AWS-validated
  snapshot test_invalid_amount_of_datapoints).
* PutMetricAlarm: moto's, except that a new alarm starts INSUFFICIENT_DATA (moto says OK).
* SetAlarmState: moto records it; the alarm takes the state until its next evaluation and the new state's
  actions run ("You can test an alarm by setting it to any state ... This temporary state change lasts only
  until the next alarm comparison occurs"), through the hook the embedded stack installs (the alarm runner).
* DescribeAlarmHistory: StateUpdate items ("Alarm updated from OK to ALARM", HistoryData with oldState and
  newState) for every state change, newest first.

Not modelled: statistic sets in PutMetricData are kept by moto only (their percentiles need the raw values),
GetMetricData pagination (every datapoint in one page), ConfigurationUpdate and Action history items.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from moto.cloudwatch.exceptions import InvalidParameterCombination, InvalidParameterValue
from moto.cloudwatch.responses import CloudWatchResponse
from moto.core.responses import ActionResult

from control_plane.alarms.samples import Sample, SampleStore, dimensions_key
from control_plane.alarms.statistics import UnsupportedStatistic, aggregate

MAX_STATISTICS_DATAPOINTS = 1440  # GetMetricStatistics
StateHook = Callable[[str, str, str, str], None]  # alarm name, state, reason, reason data


def _epoch(value: Any) -> float:
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, int | float):
        return float(value)
    text = str(value)
    try:
        return float(text)
    except ValueError:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


@dataclass
class HistoryItem:
    alarm: str
    at: float
    old: tuple[str, str, str]  # state, reason, reason data
    new: tuple[str, str, str]

    def as_dict(self) -> dict[str, Any]:
        def state(s: tuple[str, str, str]) -> dict[str, Any]:
            out: dict[str, Any] = {"stateValue": s[0], "stateReason": s[1]}
            if s[2]:
                out["stateReasonData"] = json.loads(s[2])
            return out
        data = {"version": "1.0", "oldState": state(self.old), "newState": state(self.new)}
        return {"AlarmName": self.alarm, "AlarmType": "MetricAlarm", "Timestamp": _utc(self.at),
                "HistoryItemType": "StateUpdate",
                "HistorySummary": f"Alarm updated from {self.old[0]} to {self.new[0]}",
                "HistoryData": json.dumps(data, separators=(",", ":"))}


@dataclass
class EmbeddedCloudWatch:
    """The state the front answers from: raw samples, alarm history, and the hook SetAlarmState calls."""

    samples: SampleStore = field(default_factory=SampleStore)
    history: list[HistoryItem] = field(default_factory=list)
    on_set_state: StateHook | None = None
    clock: Callable[[], float] = field(default=lambda: datetime.now(UTC).timestamp())
    lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, samples: Iterable[Sample]) -> None:
        with self.lock:
            self.samples.extend(samples)

    def values(self, namespace: str, metric: str, dimensions: Any, start: float, end: float) -> list[float]:
        key = (namespace, metric, dimensions_key((d["Name"], d["Value"]) for d in dimensions or []))
        with self.lock:
            return list(self.samples.values(key, start, end))

    def series(self, namespace: str, metric: str, dimensions: Any, start: float, end: float, period: int,
               statistic: str) -> list[tuple[float, float]]:
        """(period start, value) for each period from StartTime (rounded down to the minute) that holds data."""
        first = math.floor(start / 60) * 60
        out = []
        for begin in range(int(first), math.ceil(end), period):
            values = self.values(namespace, metric, dimensions, begin, begin + period)
            value = aggregate(values, statistic) if values else None  # no data: no datapoint, not a zero
            if value is not None:
                out.append((float(begin), value))
        return out

    def record_state(self, alarm: str, old: tuple[str, str, str], new: tuple[str, str, str]) -> None:
        if old[0] != new[0]:
            self.history.append(HistoryItem(alarm, self.clock(), old, new))


def _samples(namespace: str, metric_data: list[dict[str, Any]], now: float) -> list[Sample]:
    out = []
    for datum in metric_data:
        at = _epoch(datum["Timestamp"]) if datum.get("Timestamp") else now
        dims = [(d["Name"], d["Value"]) for d in datum.get("Dimensions", [])]
        if "Value" in datum and datum["Value"] is not None:
            out.append(Sample.of(namespace, datum["MetricName"], dims, float(datum["Value"]), at))
        values, counts = datum.get("Values") or [], datum.get("Counts") or []
        for i, value in enumerate(values):
            out += [Sample.of(namespace, datum["MetricName"], dims, float(value), at)] * int(counts[i] if counts else 1)
    return out


class CloudWatchFront(CloudWatchResponse):
    """moto's CloudWatch handler with the operations above answered by `cloud` (set on a subclass per stack)."""

    cloud: EmbeddedCloudWatch

    def put_metric_alarm(self) -> ActionResult:
        # "When this operation creates an alarm, the alarm state is immediately set to INSUFFICIENT_DATA" (moto: OK);
        # "When you update an existing alarm, its state is left unchanged".
        name = self._get_param("AlarmName")
        existed = name in self.cloudwatch_backend.alarms
        result = super().put_metric_alarm()
        alarm = self.cloudwatch_backend.alarms.get(name)
        if alarm is not None and not existed:
            alarm.state_value = "INSUFFICIENT_DATA"
        return result

    def put_metric_data(self) -> ActionResult:
        result = super().put_metric_data()
        self.cloud.put(_samples(self._get_param("Namespace"), self._get_param("MetricData", []), self.cloud.clock()))
        return result

    def get_metric_data(self) -> ActionResult:
        params = self._get_params()
        queries = params.get("MetricDataQueries", [])
        if any("Expression" in q for q in queries):
            return super().get_metric_data()
        start, end = _epoch(params["StartTime"]), _epoch(params["EndTime"])
        descending = (params.get("ScanBy") or "TimestampDescending") == "TimestampDescending"
        results = []
        for i, query in enumerate(queries, start=1):
            stat = query.get("MetricStat")
            if not stat:
                raise InvalidParameterValue(f"The parameter MetricDataQueries.member.{i}.MetricStat is required.")
            metric = stat["Metric"]
            try:
                points = self.cloud.series(metric["Namespace"], metric["MetricName"], metric.get("Dimensions"), start,
                                           end, int(stat["Period"]), stat["Stat"])
            except UnsupportedStatistic as exc:
                raise InvalidParameterValue(f"The value {stat['Stat']} for parameter "
                                            f"MetricDataQueries.member.{i}.MetricStat.Stat is not supported here: "
                                            f"{exc.what}") from exc
            if descending:
                points.reverse()
            if query.get("ReturnData", True):
                results.append({"Id": query["Id"], "Label": query.get("Label") or metric["MetricName"],
                                "Timestamps": [_utc(t) for t, _ in points], "Values": [v for _, v in points],
                                "StatusCode": "Complete"})
        return ActionResult({"MetricDataResults": results, "Messages": []})

    def get_metric_statistics(self) -> ActionResult:
        start, end = _epoch(self._get_param("StartTime")), _epoch(self._get_param("EndTime"))
        period = self._get_int_param("Period")
        statistics = self._get_param("Statistics", []) or []
        extended = self._get_param("ExtendedStatistics", []) or []
        if not statistics and not extended:
            raise InvalidParameterCombination("Must specify either Statistics or ExtendedStatistics")
        if start >= end:
            raise InvalidParameterValue("The parameter StartTime must be less than the parameter EndTime.")
        requested = math.ceil((end - start) / period)
        if requested > MAX_STATISTICS_DATAPOINTS:
            raise InvalidParameterCombination(
                f"You have requested up to {requested} datapoints, which exceeds the limit of "
                f"{MAX_STATISTICS_DATAPOINTS}. You may reduce the datapoints requested by increasing Period, or "
                "decreasing the time range.")
        namespace, metric = self._get_param("Namespace"), self._get_param("MetricName")
        dims = self._get_param("Dimensions", [])
        unit = self._get_param("Unit") or "None"
        first = math.floor(start / 60) * 60
        datapoints = []
        for begin in range(int(first), math.ceil(end), period):
            values = self.cloud.values(namespace, metric, dims, begin, begin + period)
            if not values:
                continue
            point: dict[str, Any] = {"Timestamp": _utc(begin)}
            for s in statistics:
                point[s] = aggregate(values, s)
            ext = {e: v for e in extended if (v := aggregate(values, e)) is not None}
            if ext:
                point["ExtendedStatistics"] = ext
            point["Unit"] = unit
            datapoints.append(point)
        return ActionResult({"Label": metric, "Datapoints": datapoints})

    def set_alarm_state(self) -> ActionResult:
        name = self._get_param("AlarmName")
        alarm = self.cloudwatch_backend.alarms.get(name)
        old = (alarm.state_value, alarm.state_reason, alarm.state_reason_data) if alarm else ("", "", "")
        result = super().set_alarm_state()
        new = (self._get_param("StateValue"), self._get_param("StateReason"), self._get_param("StateReasonData") or "")
        self.cloud.record_state(name, old, new)
        if self.cloud.on_set_state is not None:
            self.cloud.on_set_state(name, *new)
        return result

    def describe_alarm_history(self) -> ActionResult:
        name = self._get_param("AlarmName")
        kind = self._get_param("HistoryItemType")
        start = self._get_param("StartDate")
        end = self._get_param("EndDate")
        items = [h for h in self.cloud.history if (not name or h.alarm == name) and kind in (None, "StateUpdate")
                 and (start is None or h.at >= _epoch(start)) and (end is None or h.at <= _epoch(end))]
        items.sort(key=lambda h: h.at, reverse=(self._get_param("ScanBy") or "TimestampDescending")
                   == "TimestampDescending")
        limit = self._get_int_param("MaxRecords") or 100
        return ActionResult({"AlarmHistoryItems": [h.as_dict() for h in items[:limit]]})


def front_for(cloud: EmbeddedCloudWatch) -> type[CloudWatchFront]:
    """A CloudWatchFront class bound to one stack's state (moto instantiates the handler per request)."""
    return type("BoundCloudWatchFront", (CloudWatchFront,), {"cloud": cloud})


class EmbeddedAwsServer:
    """moto's server (ThreadedMotoServer's wiring: DomainDispatcherApplication, MotoRequestHandler) with CloudWatch
    answered by `front`; every other service is moto's."""

    def __init__(self, front: type[CloudWatchFront], host: str = "127.0.0.1", port: int = 0) -> None:
        self.front, self.host, self.port = front, host, port
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def _app(self, service: Any) -> Any:
        from moto.core.utils import convert_to_flask_response
        from moto.moto_server.werkzeug_app import create_backend_app

        app = create_backend_app(service)
        if service == "cloudwatch":
            for endpoint in list(app.view_functions):
                if endpoint.endswith(".dispatch") or endpoint.startswith("CloudWatchResponse"):
                    app.view_functions[endpoint] = convert_to_flask_response(self.front.dispatch)
        return app

    def start(self) -> tuple[str, int]:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler
        from werkzeug.serving import make_server

        self._server = make_server(self.host, self.port, DomainDispatcherApplication(self._app), True,
                                   request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="embedded-aws", daemon=True)
        self._thread.start()
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
