"""CloudWatch adapter: alarms read by name with tags; put with tags on create; tag; delete."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from control_plane.aws import cloudwatch
from control_plane.diff import normalise_alarm

ARGS: dict[str, Any] = {
    "AlarmName": "A:with:colons", "AlarmDescription": "d", "ActionsEnabled": True, "AlarmActions": [],
    "OKActions": [], "InsufficientDataActions": [], "MetricName": "m", "Namespace": "n",
    "Dimensions": [{"Name": "b", "Value": "2"}, {"Name": "a", "Value": "1"}], "Period": 60,
    "EvaluationPeriods": 2, "DatapointsToAlarm": 2, "Threshold": 5.0, "ComparisonOperator": "GreaterThanThreshold",
    "TreatMissingData": "notBreaching", "ExtendedStatistic": "p95", "Unit": "Milliseconds",
}


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("cloudwatch", region_name="us-east-1")


def test_alarm_name_from_arn_keeps_colons() -> None:
    assert cloudwatch.alarm_name_from_arn("arn:aws:cloudwatch:us-east-1:1:alarm:A:with:colons") == "A:with:colons"


def test_put_with_tags_reads_back_equal_after_normalising(client: Any) -> None:
    cloudwatch.put_alarm(client, ARGS, tags={"owner": "/ns"})
    seen = cloudwatch.read_alarms(client, ["A:with:colons", "absent"])
    assert list(seen) == ["A:with:colons"]
    assert normalise_alarm(seen["A:with:colons"].args) == normalise_alarm(ARGS)
    assert dict(seen["A:with:colons"].tags) == {"owner": "/ns"}


def test_update_without_tags_then_tag_then_delete(client: Any) -> None:
    cloudwatch.put_alarm(client, ARGS, tags=None)
    seen = cloudwatch.read_alarms(client, ["A:with:colons"])["A:with:colons"]
    assert dict(seen.tags) == {}
    cloudwatch.put_alarm(client, {**ARGS, "Threshold": 7.0}, tags=None)
    cloudwatch.tag_alarm(client, seen.args["AlarmArn"], {"owner": "/ns"})
    seen = cloudwatch.read_alarms(client, ["A:with:colons"])["A:with:colons"]
    assert (seen.args["Threshold"], dict(seen.tags)) == (7.0, {"owner": "/ns"})
    cloudwatch.delete_alarm(client, "A:with:colons")
    assert cloudwatch.read_alarms(client, ["A:with:colons"]) == {}


def test_reads_more_than_one_describe_batch(client: Any) -> None:
    names = [f"alarm-{i:03d}" for i in range(cloudwatch.DESCRIBE_BATCH + 3)]
    for name in names:
        cloudwatch.put_alarm(client, {**ARGS, "AlarmName": name}, tags=None)
    assert sorted(cloudwatch.read_alarms(client, names)) == names
