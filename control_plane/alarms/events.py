"""The three ways CloudWatch delivers an alarm to a Lambda, parsed into one AlarmTransition (and built back).

| delivery                     | recognised by                                        | Powertools data class |
| Lambda alarm action          | `source` aws.cloudwatch with `alarmData`             | CloudWatchAlarmEvent  |
| SNS notification             | `Records[*].EventSource` aws:sns, Message = alarm JSON | SNSEvent            |
| EventBridge state change     | `detail-type` "CloudWatch Alarm State Change"        | EventBridgeEvent      |

The parsers are a table looked up by shape (STYLE.md 6): an event no parser claims, or one a parser claims but
cannot read, raises MalformedAlarmEvent naming what is wrong, never a bare KeyError.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from aws_lambda_powertools.utilities.data_classes import CloudWatchAlarmEvent, EventBridgeEvent, SNSEvent
from pydantic import BaseModel, ConfigDict, ValidationError

from control_plane.alarms.states import AlarmState
from registry.errors import InvalidInput

EVENTBRIDGE_DETAIL_TYPE = "CloudWatch Alarm State Change"


class MalformedAlarmEvent(InvalidInput):
    """The event is not an alarm delivery we understand, or one with a missing or invalid field (`where`)."""


class Delivery(StrEnum):
    LAMBDA_ACTION = "lambda_action"
    SNS = "sns"
    EVENTBRIDGE = "eventbridge"


class AlarmTransition(BaseModel):
    """One alarm state change, whichever way it was delivered."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    delivery: Delivery
    alarm_name: str
    state: AlarmState
    previous_state: AlarmState | None = None
    reason: str = ""
    reason_data: str | None = None
    timestamp: datetime
    alarm_arn: str | None = None
    account: str | None = None
    region: str | None = None

    @property
    def reverts(self) -> bool:
        return self.state.reverts


def parse_time(text: str) -> datetime:
    """CloudWatch writes `2026-11-25T16:10:00.512+0000`, EventBridge `2026-11-25T16:10:00Z`; both -> aware UTC."""
    value = datetime.fromisoformat(text.strip())
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def format_time(value: datetime) -> str:
    """The inverse, in CloudWatch's own format (milliseconds, +0000)."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"


def _arn_parts(arn: str | None) -> tuple[str | None, str | None]:
    """(region, account) of an alarm ARN `arn:aws:cloudwatch:<region>:<account>:alarm:<name>`."""
    parts = (arn or "").split(":")
    return (parts[3] or None, parts[4] or None) if len(parts) >= 6 else (None, None)


def _lambda_action(event: Mapping[str, Any]) -> list[AlarmTransition]:
    wrapped = CloudWatchAlarmEvent(dict(event))
    data = wrapped.alarm_data
    previous = data.get("previousState")
    return [AlarmTransition(
        delivery=Delivery.LAMBDA_ACTION,
        alarm_name=data.alarm_name,
        state=AlarmState(data.state.value),
        previous_state=AlarmState(previous["value"]) if previous else None,
        reason=data.state.get("reason", ""),
        reason_data=data.state.get("reasonData"),
        timestamp=parse_time(data.state.get("timestamp") or wrapped.timestamp),
        alarm_arn=wrapped.alarm_arn,
        account=wrapped.source_account_id,
        region=wrapped.region,
    )]


def _sns(event: Mapping[str, Any]) -> list[AlarmTransition]:
    transitions = []
    for record in SNSEvent(dict(event)).records:
        try:
            message = json.loads(record.sns.message)
        except json.JSONDecodeError as exc:
            raise MalformedAlarmEvent(f"SNS message is not the alarm JSON: {exc}", where="Records[].Sns.Message",
                                      expected="the alarm's JSON, as CloudWatch publishes it to its topic") from exc
        if not isinstance(message, dict):
            raise MalformedAlarmEvent("SNS message is JSON but not an alarm object", where="Records[].Sns.Message")
        region, account = _arn_parts(message.get("AlarmArn"))
        transitions.append(AlarmTransition(
            delivery=Delivery.SNS,
            alarm_name=message["AlarmName"],
            state=AlarmState(message["NewStateValue"]),
            previous_state=AlarmState(message["OldStateValue"]) if message.get("OldStateValue") else None,
            reason=message.get("NewStateReason", ""),
            timestamp=parse_time(message["StateChangeTime"]),
            alarm_arn=message.get("AlarmArn"),
            account=message.get("AWSAccountId") or account,
            region=region,  # the message's "Region" is a display name ("US East (N. Virginia)"), not a code
        ))
    return transitions


def _eventbridge(event: Mapping[str, Any]) -> list[AlarmTransition]:
    wrapped = EventBridgeEvent(dict(event))
    detail = wrapped.detail
    state, previous = detail["state"], detail.get("previousState")
    arn = next((r for r in wrapped.resources if ":alarm:" in r), None)
    return [AlarmTransition(
        delivery=Delivery.EVENTBRIDGE,
        alarm_name=detail["alarmName"],
        state=AlarmState(state["value"]),
        previous_state=AlarmState(previous["value"]) if previous else None,
        reason=state.get("reason", ""),
        reason_data=state.get("reasonData"),
        timestamp=parse_time(state.get("timestamp") or wrapped.time),
        alarm_arn=arn,
        account=wrapped.account,
        region=wrapped.region,
    )]


def _is_lambda_action(event: Mapping[str, Any]) -> bool:
    return event.get("source") == "aws.cloudwatch" and "alarmData" in event


def _is_sns(event: Mapping[str, Any]) -> bool:
    records = event.get("Records")
    return isinstance(records, list) and bool(records) and all(
        isinstance(r, dict) and r.get("EventSource") == "aws:sns" for r in records)


def _is_eventbridge(event: Mapping[str, Any]) -> bool:
    return event.get("detail-type") == EVENTBRIDGE_DETAIL_TYPE


Matcher = Callable[[Mapping[str, Any]], bool]
Parser = Callable[[Mapping[str, Any]], list[AlarmTransition]]
PARSERS: dict[Delivery, tuple[Matcher, Parser]] = {
    Delivery.LAMBDA_ACTION: (_is_lambda_action, _lambda_action),
    Delivery.SNS: (_is_sns, _sns),
    Delivery.EVENTBRIDGE: (_is_eventbridge, _eventbridge),
}


def detect(event: object) -> Delivery:
    """Which delivery shape `event` has; MalformedAlarmEvent if none."""
    if not isinstance(event, Mapping):
        raise MalformedAlarmEvent(f"an alarm event must be a JSON object, got {type(event).__name__}")
    for delivery, (matches, _) in PARSERS.items():
        if matches(event):
            return delivery
    keys = ", ".join(sorted(str(k) for k in event)[:8]) or "none"
    raise MalformedAlarmEvent(
        f"not a CloudWatch alarm delivery (top-level keys: {keys})",
        expected=f"a Lambda alarm action event, an SNS alarm notification or an EventBridge "
                 f"'{EVENTBRIDGE_DETAIL_TYPE}' event",
    )


def parse_event(event: object) -> list[AlarmTransition]:
    """Every alarm transition in `event` (an SNS event may batch several records). Raises MalformedAlarmEvent."""
    delivery = detect(event)
    assert isinstance(event, Mapping)
    try:
        return PARSERS[delivery][1](event)
    except MalformedAlarmEvent:
        raise
    except KeyError as exc:
        raise MalformedAlarmEvent(f"{delivery.value} alarm event lacks field {exc}", where=str(exc),
                                  expected=f"a {delivery.value} event as CloudWatch sends it") from exc
    except (ValueError, TypeError, AttributeError, ValidationError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise MalformedAlarmEvent(f"{delivery.value} alarm event has an invalid field: {first}",
                                  expected=f"a {delivery.value} event as CloudWatch sends it") from exc


def lambda_action_event(*, alarm_name: str, region: str, account: str, state: AlarmState, reason: str,
                        reason_data: str, timestamp: datetime, previous_state: AlarmState | None = None,
                        previous_reason: str = "", previous_timestamp: datetime | None = None,
                        description: str = "", metric: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The event CloudWatch's Lambda alarm action sends (what the local runner invokes the handler with)."""
    arn = f"arn:aws:cloudwatch:{region}:{account}:alarm:{alarm_name}"
    alarm_data: dict[str, Any] = {
        "alarmName": alarm_name,
        "state": {"value": state.value, "reason": reason, "reasonData": reason_data,
                  "timestamp": format_time(timestamp)},
        "configuration": {"description": description, "metrics": [dict(metric)] if metric else []},
    }
    if previous_state is not None:
        alarm_data["previousState"] = {"value": previous_state.value, "reason": previous_reason,
                                       "timestamp": format_time(previous_timestamp or timestamp)}
    return {"source": "aws.cloudwatch", "alarmArn": arn, "accountId": account, "time": format_time(timestamp),
            "region": region, "alarmData": alarm_data}
