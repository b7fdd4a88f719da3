"""What CloudWatch sends when an alarm changes state, built from a Transition (pure): the SNS notification, the
Lambda alarm-action event and the EventBridge "CloudWatch Alarm State Change" event, field for field.

Sources (tests/fixtures/SOURCES.md): the SNS message's fields and their order are those of AWS-sent
notifications (LocalStack's AWS-validated snapshots test_put_metric_alarm / test_breaching_alarm_actions, and SNS
payloads users captured: "Statistic": "AVERAGE", "Region": "US East (N. Virginia)", "Unit": null,
"EvaluateLowSampleCountPercentile": "", "Dimensions": [{"value", "name"}]); the Lambda event is the user guide's
"Invoke a Lambda function from an alarm" example; the EventBridge event the guide's "Alarm events and
EventBridge" single-metric sample (tests/fixtures/alarm_events/aws_docs_eventbridge_single_metric.json).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from control_plane.alarms.evaluator import AlarmDefinition, AlarmStatus, Transition
from control_plane.alarms.events import EVENTBRIDGE_DETAIL_TYPE, format_time
from control_plane.alarms.reasons import iso

# The "Region" of an SNS alarm message is the region's display name, as CloudWatch writes it.
REGION_NAMES = {
    "us-east-1": "US East (N. Virginia)", "us-east-2": "US East (Ohio)", "us-west-1": "US West (N. California)",
    "us-west-2": "US West (Oregon)", "ca-central-1": "Canada (Central)", "sa-east-1": "South America (Sao Paulo)",
    "eu-west-1": "EU (Ireland)", "eu-west-2": "EU (London)", "eu-west-3": "EU (Paris)",
    "eu-central-1": "EU (Frankfurt)", "eu-south-1": "EU (Milan)", "eu-north-1": "EU (Stockholm)",
    "ap-northeast-1": "Asia Pacific (Tokyo)", "ap-northeast-2": "Asia Pacific (Seoul)",
    "ap-southeast-1": "Asia Pacific (Singapore)", "ap-southeast-2": "Asia Pacific (Sydney)",
    "ap-south-1": "Asia Pacific (Mumbai)",
}
# Trigger.Statistic is the enum's Java name: "AVERAGE", "SAMPLE_COUNT".
TRIGGER_STATISTIC = {"SampleCount": "SAMPLE_COUNT", "Average": "AVERAGE", "Sum": "SUM", "Minimum": "MINIMUM",
                     "Maximum": "MAXIMUM"}
SUBJECT_NAME_LIMIT = 74  # a longer alarm name is cut to this many characters and "..." in the SNS subject


def region_name(region: str) -> str:
    return REGION_NAMES.get(region, region)


@dataclass(frozen=True)
class AlarmConfig:
    """What an alarm was created with beyond the evaluator's needs: its actions and when it was configured."""

    alarm_actions: tuple[str, ...] = ()
    ok_actions: tuple[str, ...] = ()
    insufficient_data_actions: tuple[str, ...] = ()
    configured_at: float = 0.0
    extra: Mapping[str, Any] = field(default_factory=dict)

    def actions_for(self, state: str) -> tuple[str, ...]:
        return {"ALARM": self.alarm_actions, "OK": self.ok_actions,
                "INSUFFICIENT_DATA": self.insufficient_data_actions}[state]

    @classmethod
    def from_args(cls, args: Mapping[str, Any], configured_at: float) -> AlarmConfig:
        """From PutMetricAlarm arguments (the compiler's AlarmSpec.args, or a DescribeAlarms entry)."""
        return cls(tuple(args.get("AlarmActions", ())), tuple(args.get("OKActions", ())),
                   tuple(args.get("InsufficientDataActions", ())), configured_at)


def alarm_arn(region: str, account: str, name: str, partition: str = "aws") -> str:
    return f"arn:{partition}:cloudwatch:{region}:{account}:alarm:{name}"


def sns_subject(state: str, name: str, region: str) -> str:
    shown = name if len(name) <= SUBJECT_NAME_LIMIT else name[:SUBJECT_NAME_LIMIT] + "..."
    return f'{state}: "{shown}" in {region_name(region)}'


def _trigger(alarm: AlarmDefinition) -> dict[str, Any]:
    trigger: dict[str, Any] = {"MetricName": alarm.metric, "Namespace": alarm.namespace}
    if alarm.extended:
        trigger |= {"StatisticType": "ExtendedStatistic", "ExtendedStatistic": alarm.statistic}
    else:
        trigger |= {"StatisticType": "Statistic", "Statistic": TRIGGER_STATISTIC[alarm.statistic]}
    trigger |= {"Unit": alarm.unit, "Dimensions": [{"value": v, "name": k} for k, v in alarm.dimensions],
                "Period": alarm.period, "EvaluationPeriods": alarm.evaluation_periods}
    if alarm.datapoints_to_alarm_set:
        trigger["DatapointsToAlarm"] = alarm.datapoints_to_alarm
    trigger |= {"ComparisonOperator": alarm.comparison.value, "Threshold": alarm.threshold,
                "TreatMissingData": alarm.treat_missing_data.value,
                "EvaluateLowSampleCountPercentile": alarm.evaluate_low_sample_count or ""}
    return trigger


def sns_message(transition: Transition, config: AlarmConfig, *, region: str, account: str) -> dict[str, Any]:
    """The JSON CloudWatch publishes to the topics of the new state's actions."""
    alarm = transition.alarm
    return {
        "AlarmName": alarm.name,
        "AlarmDescription": alarm.description,
        "AWSAccountId": account,
        "AlarmConfigurationUpdatedTimestamp": iso(config.configured_at),
        "NewStateValue": transition.state.value,
        "NewStateReason": transition.current.reason,
        "StateChangeTime": iso(transition.at),
        "Region": region_name(region),
        "AlarmArn": alarm_arn(region, account, alarm.name),
        "OldStateValue": transition.previous.state.value,
        "OKActions": list(config.ok_actions),
        "AlarmActions": list(config.alarm_actions),
        "InsufficientDataActions": list(config.insufficient_data_actions),
        "Trigger": _trigger(alarm),
    }


def _state(status: AlarmStatus) -> dict[str, Any]:
    state: dict[str, Any] = {"value": status.state.value, "reason": status.reason}
    if status.reason_data:
        state["reasonData"] = status.reason_data
    state["timestamp"] = format_time(datetime.fromtimestamp(status.since, UTC))
    return state


def _configuration(alarm: AlarmDefinition) -> dict[str, Any]:
    stat: dict[str, Any] = {"metric": {"namespace": alarm.namespace, "name": alarm.metric,
                                       "dimensions": dict(alarm.dimensions)},
                            "period": alarm.period, "stat": alarm.statistic}
    if alarm.unit:
        stat["unit"] = alarm.unit
    metric_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"cloudwatch-alarm-metric:{alarm.name}"))
    return {"description": alarm.description or "", "metrics": [{"id": metric_id, "metricStat": stat,
                                                                  "returnData": True}]}


def lambda_event(transition: Transition, *, region: str, account: str) -> dict[str, Any]:
    """The event a Lambda alarm action receives."""
    alarm = transition.alarm
    return {"source": "aws.cloudwatch", "alarmArn": alarm_arn(region, account, alarm.name), "accountId": account,
            "time": format_time(datetime.fromtimestamp(transition.at, UTC)), "region": region,
            "alarmData": {"alarmName": alarm.name, "state": _state(transition.current),
                          "previousState": _state(transition.previous), "configuration": _configuration(alarm)}}


def eventbridge_event(transition: Transition, *, region: str, account: str) -> dict[str, Any]:
    """The "CloudWatch Alarm State Change" event CloudWatch puts on the default event bus."""
    alarm = transition.alarm
    moment = datetime.fromtimestamp(transition.at, UTC)
    event_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{alarm.name}:{transition.at}:{transition.state.value}")
    return {"version": "0", "id": str(event_id), "detail-type": EVENTBRIDGE_DETAIL_TYPE, "source": "aws.cloudwatch",
            "account": account, "time": moment.strftime("%Y-%m-%dT%H:%M:%SZ"), "region": region,
            "resources": [alarm_arn(region, account, alarm.name)],
            "detail": {"alarmName": alarm.name, "configuration": _configuration(alarm),
                       "previousState": _state(transition.previous), "state": _state(transition.current)}}


def lambda_targets(actions: Sequence[str]) -> list[str]:
    return [a for a in actions if a.split(":")[2:3] == ["lambda"]]


def sns_targets(actions: Sequence[str]) -> list[str]:
    return [a for a in actions if a.split(":")[2:3] == ["sns"]]
