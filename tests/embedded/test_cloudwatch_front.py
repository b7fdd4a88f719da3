"""The embedded CloudWatch through boto3 (smithy-rpc-v2-cbor, as botocore speaks it): what moto cannot answer
(percentiles, ExtendedStatistics, DescribeAlarmHistory, SetAlarmState's actions) answered as AWS does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from control_plane.alarms.statistics import aggregate
from control_plane.aws.metrics_source import CloudWatchMetricSource, MetricQuery
from control_plane.aws.session import Clients
from control_plane.rollout.gates import Window
from embedded.cloudwatch import EmbeddedAwsServer, EmbeddedCloudWatch, front_for

NS = "SilentInfinity/Voice"
DIMS = [{"Name": "Variant", "Value": "sonic-unified"}]
T0 = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)
VALUES = [float(v) for v in range(1, 1001)]


@pytest.fixture
def cw() -> Iterator[tuple[Any, EmbeddedCloudWatch]]:
    cloud = EmbeddedCloudWatch(clock=lambda: T0.timestamp() + 600)
    server = EmbeddedAwsServer(front_for(cloud))
    host, port = server.start()
    try:
        yield Clients(endpoint_url=f"http://{host}:{port}", region="us-east-1").cloudwatch, cloud
    finally:
        server.stop()


def put(client: Any) -> None:
    for i in range(0, len(VALUES), 150):  # PutMetricData takes at most 150 values per datum
        chunk = VALUES[i:i + 150]
        client.put_metric_data(Namespace=NS, MetricData=[{
            "MetricName": "VoiceM2_TTFA_ms", "Dimensions": DIMS, "Timestamp": T0 + timedelta(seconds=30),
            "Values": chunk, "Counts": [1.0] * len(chunk), "Unit": "Milliseconds"}])


def test_get_metric_data_answers_percentiles_as_the_evaluator_computes_them(cw: tuple[Any, Any]) -> None:
    client, _ = cw
    put(client)
    metric = {"Namespace": NS, "MetricName": "VoiceM2_TTFA_ms", "Dimensions": DIMS}
    got = client.get_metric_data(MetricDataQueries=[
        {"Id": "p", "MetricStat": {"Metric": metric, "Period": 60, "Stat": "p99.9"}},
        {"Id": "n", "MetricStat": {"Metric": metric, "Period": 60, "Stat": "SampleCount"}},
    ], StartTime=T0, EndTime=T0 + timedelta(minutes=5))
    results = {r["Id"]: r for r in got["MetricDataResults"]}
    assert results["p"]["Values"] == [999.0] == [aggregate(VALUES, "p99.9")]
    assert results["p"]["Timestamps"] == [T0] and results["p"]["StatusCode"] == "Complete"
    assert results["n"]["Values"] == [1000.0]


def test_gate_source_reads_the_same_value(cw: tuple[Any, Any]) -> None:
    client, _ = cw
    put(client)
    window = Window(T0, T0 + timedelta(minutes=10))
    observed = CloudWatchMetricSource(client).observe(
        MetricQuery(NS, "VoiceM2_TTFA_ms", {"Variant": "sonic-unified"}, "p95", window))
    assert (observed.value, observed.sample_count) == (aggregate(VALUES, "p95"), 1000)


def test_get_metric_statistics_extended_and_aws_limits(cw: tuple[Any, Any]) -> None:
    client, _ = cw
    put(client)
    got = client.get_metric_statistics(Namespace=NS, MetricName="VoiceM2_TTFA_ms", Dimensions=DIMS, StartTime=T0,
                                       EndTime=T0 + timedelta(minutes=5), Period=60, Statistics=["Average"],
                                       ExtendedStatistics=["p50", "p99.9"])
    [point] = got["Datapoints"]
    assert point["Average"] == 500.5 and point["ExtendedStatistics"] == {"p50": 500.0, "p99.9": 999.0}
    # LocalStack's AWS-validated test_invalid_amount_of_datapoints
    with pytest.raises(ClientError) as info:
        client.get_metric_statistics(Namespace=NS, MetricName="m", StartTime=T0, EndTime=T0 + timedelta(days=1),
                                     Period=1, Statistics=["Average"])
    assert info.value.response["Error"]["Code"] == "InvalidParameterCombination"
    assert info.value.response["Error"]["Message"].startswith("You have requested up to 86400 datapoints, which "
                                                              "exceeds the limit of 1440.")


def test_set_alarm_state_runs_the_hook_and_is_in_the_history(cw: tuple[Any, EmbeddedCloudWatch]) -> None:
    client, cloud = cw
    seen: list[tuple[str, ...]] = []
    cloud.on_set_state = lambda *args: seen.append(args)
    client.put_metric_alarm(AlarmName="a", MetricName="m", Namespace=NS, Statistic="Average", Period=60,
                            EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanThreshold")
    client.set_alarm_state(AlarmName="a", StateValue="ALARM", StateReason="testing alarm")
    assert seen == [("a", "ALARM", "testing alarm", "")]
    [item] = client.describe_alarm_history(AlarmName="a")["AlarmHistoryItems"]
    assert item["HistorySummary"] == "Alarm updated from INSUFFICIENT_DATA to ALARM"
    assert item["HistoryItemType"] == "StateUpdate" and item["AlarmType"] == "MetricAlarm"
    assert '"newState":{"stateValue":"ALARM","stateReason":"testing alarm"}' in item["HistoryData"]
    assert client.describe_alarms(AlarmNames=["a"])["MetricAlarms"][0]["StateValue"] == "ALARM"


def test_a_new_alarm_starts_insufficient_data(cw: tuple[Any, EmbeddedCloudWatch]) -> None:
    # PutMetricAlarm: "the alarm state is immediately set to INSUFFICIENT_DATA" (LocalStack snapshot likewise).
    client, _ = cw
    client.put_metric_alarm(AlarmName="b", MetricName="m", Namespace=NS, ExtendedStatistic="p95", Period=60,
                            EvaluationPeriods=1, Threshold=1.0, ComparisonOperator="GreaterThanThreshold")
    [alarm] = client.describe_alarms(AlarmNames=["b"])["MetricAlarms"]
    assert (alarm["StateValue"], alarm["StateReason"]) == ("INSUFFICIENT_DATA", "Unchecked: Initial alarm creation")
