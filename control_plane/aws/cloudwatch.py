"""CloudWatch adapter for plan/apply: read alarms by name, write or delete one alarm. Takes a boto3 client."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from control_plane.aws.session import aws_call
from control_plane.diff import ObservedAlarm

DESCRIBE_BATCH = 100  # DescribeAlarms takes at most 100 AlarmNames


def alarm_name_from_arn(arn: str) -> str:
    """arn:aws:cloudwatch:REGION:ACCOUNT:alarm:NAME -> NAME (alarm names may themselves contain ':')."""
    return arn.split(":alarm:", 1)[1]


def read_alarms(client: Any, names: Iterable[str]) -> dict[str, ObservedAlarm]:
    """The named metric alarms that exist, as DescribeAlarms returns them, with their tags."""
    wanted = sorted(set(names))
    raw: list[dict[str, Any]] = []
    for i in range(0, len(wanted), DESCRIBE_BATCH):
        with aws_call("cloudwatch:DescribeAlarms"):
            pages = client.get_paginator("describe_alarms").paginate(
                AlarmNames=wanted[i:i + DESCRIBE_BATCH], AlarmTypes=["MetricAlarm"])
            for page in pages:
                raw += page.get("MetricAlarms", [])
    out: dict[str, ObservedAlarm] = {}
    for alarm in raw:
        with aws_call("cloudwatch:ListTagsForResource"):
            tags = client.list_tags_for_resource(ResourceARN=alarm["AlarmArn"]).get("Tags", [])
        out[alarm["AlarmName"]] = ObservedAlarm(alarm["AlarmName"], alarm, {t["Key"]: t["Value"] for t in tags})
    return out


def put_alarm(client: Any, args: Mapping[str, Any], *, tags: Mapping[str, str] | None) -> None:
    """One PutMetricAlarm (create or full replace). CloudWatch applies Tags only when it creates the alarm."""
    kwargs = dict(args)
    if tags is not None:
        kwargs["Tags"] = [{"Key": k, "Value": v} for k, v in sorted(tags.items())]
    client.put_metric_alarm(**kwargs)


def tag_alarm(client: Any, arn: str, tags: Mapping[str, str]) -> None:
    client.tag_resource(ResourceARN=arn, Tags=[{"Key": k, "Value": v} for k, v in sorted(tags.items())])


def delete_alarm(client: Any, name: str) -> None:
    client.delete_alarms(AlarmNames=[name])
