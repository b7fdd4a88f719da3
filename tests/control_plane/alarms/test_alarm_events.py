"""Parsing the three alarm delivery shapes (fixtures built from AWS's documented examples)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from control_plane.alarms.events import (
    AlarmTransition,
    Delivery,
    MalformedAlarmEvent,
    lambda_action_event,
    parse_event,
    parse_time,
)
from control_plane.alarms.states import AlarmState

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "alarm_events"


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


@pytest.mark.parametrize(
    ("fixture", "delivery"),
    [
        pytest.param("lambda_action.json", Delivery.LAMBDA_ACTION, id="lambda-action"),
        pytest.param("sns_notification.json", Delivery.SNS, id="sns"),
        pytest.param("eventbridge_state_change.json", Delivery.EVENTBRIDGE, id="eventbridge"),
    ],
)
def test_each_delivery_parses_to_the_same_transition(fixture: str, delivery: Delivery) -> None:
    [transition] = parse_event(load(fixture))
    assert transition.delivery is delivery
    assert transition.alarm_name == "VoiceM2_P95_Breach"
    assert transition.state is AlarmState.ALARM and transition.reverts
    assert transition.previous_state is AlarmState.OK
    assert transition.reason.startswith("Threshold Crossed: 2 out of the last 2 datapoints")
    assert transition.timestamp == datetime(2026, 11, 25, 16, 10, 0, 512000, tzinfo=UTC)
    assert (transition.region, transition.account) == ("us-east-1", "123456789012")
    assert transition.alarm_arn == "arn:aws:cloudwatch:us-east-1:123456789012:alarm:VoiceM2_P95_Breach"


def test_the_aws_docs_eventbridge_sample_parses_verbatim() -> None:
    [transition] = parse_event(load("aws_docs_eventbridge_single_metric.json"))
    assert transition.alarm_name == "ServerCpuTooHigh"
    assert transition.timestamp == datetime(2019, 10, 2, 17, 4, 40, 989000, tzinfo=UTC)


def test_sns_batch_of_records_gives_one_transition_each() -> None:
    event = load("sns_notification.json")
    second = copy.deepcopy(event["Records"][0])
    message = json.loads(second["Sns"]["Message"])
    message["NewStateValue"] = "OK"
    second["Sns"]["Message"] = json.dumps(message)
    event["Records"].append(second)
    assert [t.state for t in parse_event(event)] == [AlarmState.ALARM, AlarmState.OK]


def test_time_formats() -> None:
    assert parse_time("2019-10-02T17:04:40Z") == datetime(2019, 10, 2, 17, 4, 40, tzinfo=UTC)
    assert parse_time("2026-11-25T16:10:00.512+0000").microsecond == 512000


def _drop(event: dict[str, Any], *path: str) -> dict[str, Any]:
    event = copy.deepcopy(event)
    node = event
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return event


@pytest.mark.parametrize(
    ("event", "message"),
    [
        pytest.param({}, "not a CloudWatch alarm delivery", id="empty"),
        pytest.param([1, 2], "must be a JSON object", id="not-an-object"),
        pytest.param({"source": "aws.s3", "detail": {}}, "not a CloudWatch alarm delivery", id="other-source"),
        pytest.param(_drop(load("lambda_action.json"), "alarmData", "alarmName"), "lacks field 'alarmName'",
                     id="lambda-no-name"),
        pytest.param(_drop(load("eventbridge_state_change.json"), "detail", "state"), "lacks field 'state'",
                     id="eventbridge-no-state"),
        pytest.param({"Records": [{"EventSource": "aws:sns", "Sns": {"Message": "not json"}}]},
                     "not the alarm JSON", id="sns-not-json"),
        pytest.param({"Records": [{"EventSource": "aws:sns", "Sns": {"Message": "{\"AlarmName\": \"x\"}"}}]},
                     "lacks field 'NewStateValue'", id="sns-partial-message"),
    ],
)
def test_malformed_events_raise_a_specific_error(event: Any, message: str) -> None:
    with pytest.raises(MalformedAlarmEvent, match=message):
        parse_event(event)


def test_invalid_state_value_is_malformed_not_a_crash() -> None:
    event = load("lambda_action.json")
    event["alarmData"]["state"]["value"] = "ON_FIRE"
    with pytest.raises(MalformedAlarmEvent, match="invalid field"):
        parse_event(event)


def test_built_lambda_action_event_round_trips() -> None:
    at = datetime(2026, 11, 25, 16, 10, tzinfo=UTC)
    event = lambda_action_event(alarm_name="VoiceM2_P95_Breach", region="us-east-1", account="123456789012",
                                state=AlarmState.ALARM, reason="Threshold Crossed: test", reason_data="{}",
                                timestamp=at, previous_state=AlarmState.OK)
    [transition] = parse_event(event)
    assert transition == AlarmTransition(
        delivery=Delivery.LAMBDA_ACTION, alarm_name="VoiceM2_P95_Breach", state=AlarmState.ALARM,
        previous_state=AlarmState.OK, reason="Threshold Crossed: test", reason_data="{}", timestamp=at,
        alarm_arn="arn:aws:cloudwatch:us-east-1:123456789012:alarm:VoiceM2_P95_Breach", account="123456789012",
        region="us-east-1")
