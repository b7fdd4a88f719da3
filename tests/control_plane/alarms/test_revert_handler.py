"""The revert handler against moto: every delivery shape, redelivery, ignored states, partial failures."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from control_plane.alarms import handler as handler_module
from control_plane.alarms.events import parse_event
from control_plane.alarms.handler import HandlerConfig, RevertConfigError, RevertIncomplete, handle, lambda_handler
from control_plane.aws import live_store
from registry.errors import AwsError
from registry.live_state import OverrideRecord, effective_weights
from tests.control_plane.alarms.conftest import NOW, NS, Aws, load_event

CONFIG = HandlerConfig(NS, account="123456789012", region="us-east-1")
SHAPES = ["lambda_action.json", "sns_notification.json", "eventbridge_state_change.json"]


def run(aws: Aws, event: Any, *, clock_offset: float = 0.0, ssm: Any = None, sns: Any = None,
        codedeploy: Any = None, config: HandlerConfig = CONFIG) -> dict[str, Any]:
    return handle(event, ssm=ssm or aws.ssm, sns=sns or aws.sns, codedeploy=codedeploy or aws.codedeploy,
                  config=config, clock=lambda: NOW + timedelta(seconds=clock_offset))


def with_state(event: dict[str, Any], state: str) -> dict[str, Any]:
    event = copy.deepcopy(event)
    if "alarmData" in event:
        event["alarmData"]["state"]["value"] = state
    elif "detail" in event:
        event["detail"]["state"]["value"] = state
    else:
        message = json.loads(event["Records"][0]["Sns"]["Message"])
        message["NewStateValue"] = state
        event["Records"][0]["Sns"]["Message"] = json.dumps(message)
    return event


@pytest.mark.parametrize("fixture", SHAPES)
def test_alarm_writes_override_then_notifies_then_rolls_back(aws: Aws, fixture: str) -> None:
    result = run(aws, load_event(fixture))
    assert result["status"] == "reverted"
    [outcome] = result["results"]
    assert outcome["overrides_written"] == [{"variant": "sonic-unified", "share": 0, "version": 1}]
    state = live_store.read_live_state(aws.ssm, NS)
    record = state.overrides["sonic-unified"]
    assert (record.share, record.source, record.alarm) == (0, "alarm", "VoiceM2_P95_Breach")
    assert "Threshold Crossed: 2 out of the last 2 datapoints" in record.reason
    assert effective_weights(state)["sonic-unified"] == 0.0
    assert effective_weights(state)["transcribe-polly-baseline"] == 100.0
    [message] = aws.messages()
    assert message["Subject"].startswith("voice-rollout: VoiceM2_P95_Breach ALARM, reverted sonic-unified")
    assert "voicectl override clear sonic-unified" in message["Message"]
    assert aws.codedeploy.stopped == [(aws.deployment_id, True)]
    assert outcome["deployments_stopped"] == [aws.deployment_id]


@pytest.mark.parametrize("fixture", SHAPES)
def test_redelivery_is_idempotent_no_second_version_no_second_notification(aws: Aws, fixture: str) -> None:
    event = load_event(fixture)
    assert run(aws, event)["status"] == "reverted"
    again = run(aws, event, clock_offset=30)
    assert again["status"] == "duplicate"
    assert aws.override_versions("sonic-unified") == 1
    assert len(aws.messages()) == 1
    assert len(aws.codedeploy.stopped) == 1


@pytest.mark.parametrize("fixture", SHAPES)
@pytest.mark.parametrize("state", ["OK", "INSUFFICIENT_DATA"])
def test_ok_and_insufficient_data_are_ignored(aws: Aws, fixture: str, state: str) -> None:
    result = run(aws, with_state(load_event(fixture), state))
    assert result["status"] == "ignored"
    assert live_store.read_live_state(aws.ssm, NS).overrides == {}
    assert aws.messages() == [] and aws.codedeploy.stopped == []


def test_never_un_reverts_when_the_alarm_returns_to_ok(aws: Aws) -> None:
    run(aws, load_event("lambda_action.json"))
    assert run(aws, with_state(load_event("lambda_action.json"), "OK"))["status"] == "ignored"
    assert live_store.read_live_state(aws.ssm, NS).overrides["sonic-unified"].share == 0
    assert aws.override_versions("sonic-unified") == 1


def test_a_later_fresh_alarm_notifies_again_without_rewriting(aws: Aws) -> None:
    run(aws, load_event("lambda_action.json"))
    later = load_event("lambda_action.json")
    later["alarmData"]["state"]["timestamp"] = "2026-11-25T18:00:00.000+0000"
    result = run(aws, later, clock_offset=7200)
    assert result["status"] == "reverted"
    assert result["results"][0]["overrides_written"] == []
    assert aws.override_versions("sonic-unified") == 1
    assert len(aws.messages()) == 2


def test_sns_down_override_still_written_partial(aws: Aws) -> None:
    aws.sns.delete_topic(TopicArn="arn:aws:sns:us-east-1:123456789012:voice-m2-oncall")
    result = run(aws, load_event("sns_notification.json"))
    assert result["status"] == "partial"
    [outcome] = result["results"]
    assert outcome["overrides_written"][0]["variant"] == "sonic-unified"
    assert any(e.startswith("notify arn:aws:sns:us-east-1:123456789012:voice-m2-oncall") for e in outcome["errors"])
    assert live_store.read_live_state(aws.ssm, NS).overrides["sonic-unified"].share == 0
    assert aws.codedeploy.stopped == [(aws.deployment_id, True)]  # later effects still run


class CodeDeployDown:
    def list_deployments(self, **kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "ListDeployments")


def test_codedeploy_down_override_still_written_partial(aws: Aws) -> None:
    result = run(aws, load_event("eventbridge_state_change.json"), codedeploy=CodeDeployDown())
    assert result["status"] == "partial"
    [outcome] = result["results"]
    assert outcome["errors"][0].startswith("rollback voice-m2-runtime/voice-m2-relay-canary: codedeploy:ListDep")
    assert live_store.read_live_state(aws.ssm, NS).overrides["sonic-unified"].share == 0
    assert len(aws.messages()) == 1


def test_codedeploy_stop_not_implemented_is_reported_not_raised(aws: Aws) -> None:
    # moto's real client has no StopDeployment: whatever the failure, the handler reports it.
    result = run(aws, load_event("lambda_action.json"), codedeploy=aws.codedeploy.inner)
    assert result["status"] == "partial"
    assert live_store.read_live_state(aws.ssm, NS).overrides["sonic-unified"].share == 0


class FailingPut:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def put_parameter(self, **kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "PutParameter")


def test_override_write_failure_raises_before_any_notification(aws: Aws) -> None:
    with pytest.raises(AwsError, match="ssm:PutParameter"):
        run(aws, load_event("lambda_action.json"), ssm=FailingPut(aws.ssm))
    assert aws.messages() == [] and aws.codedeploy.stopped == []


class FailingRead(FailingPut):
    def get_paginator(self, name: str) -> Any:
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetParametersByPath")


def test_live_state_read_failure_raises_so_lambda_retries(aws: Aws) -> None:
    with pytest.raises(AwsError, match="access denied: ssm:GetParametersByPath"):
        run(aws, load_event("sns_notification.json"), ssm=FailingRead(aws.ssm))
    assert aws.messages() == []


def test_unknown_alarm_is_rejected_cleanly(aws: Aws) -> None:
    result = run(aws, load_event("aws_docs_eventbridge_single_metric.json"))
    assert result["status"] == "rejected"
    assert "ServerCpuTooHigh" in result["results"][0]["notes"][0]
    assert live_store.read_live_state(aws.ssm, NS).overrides == {}


@pytest.mark.parametrize("event", [{}, {"Records": "nope"}, "text", {"source": "aws.cloudwatch", "alarmData": {}}])
def test_malformed_event_is_rejected_cleanly(aws: Aws, event: Any) -> None:
    result = run(aws, event)
    assert result["status"] == "rejected" and result["error"]
    assert live_store.read_live_state(aws.ssm, NS).overrides == {}


def test_existing_person_override_at_zero_becomes_the_alarms_revert(aws: Aws) -> None:
    # Recorded as the alarm's revert, so `override clear` checks the alarm (issue 17: a revert must be recorded).
    live_store.put_override(aws.ssm, NS, OverrideRecord(variant="sonic-unified", share=0, source="person",
                                                        actor="oncall", reason="manual", at=NOW))
    result = run(aws, load_event("lambda_action.json"))
    assert result["status"] == "reverted"
    record = live_store.read_live_state(aws.ssm, NS).overrides["sonic-unified"]
    assert (record.share, record.reverting_alarms) == (0, ["VoiceM2_P95_Breach"])
    assert aws.override_versions("sonic-unified") == 2
    assert "Already at 0%: sonic-unified." in aws.messages()[0]["Message"]


def test_existing_person_override_above_zero_is_forced_to_zero(aws: Aws) -> None:
    live_store.put_override(aws.ssm, NS, OverrideRecord(variant="sonic-unified", share=50, source="person",
                                                        actor="oncall", reason="push", at=NOW))
    run(aws, load_event("lambda_action.json"))
    record = live_store.read_live_state(aws.ssm, NS).overrides["sonic-unified"]
    assert (record.share, record.source) == (0, "alarm")
    assert aws.override_versions("sonic-unified") == 2


class OneStopFails:
    def __init__(self) -> None:
        self.stopped: list[str] = []

    def list_deployments(self, **kwargs: Any) -> Any:
        assert kwargs["includeOnlyStatuses"] == ["Created", "Queued", "InProgress", "Ready"]
        return {"deployments": ["d-1", "d-2"]}

    def stop_deployment(self, *, deploymentId: str, autoRollbackEnabled: bool) -> None:
        if deploymentId == "d-1":
            raise ClientError({"Error": {"Code": "InvalidDeploymentStatus", "Message": "done"}}, "StopDeployment")
        self.stopped.append(deploymentId)


def test_one_failing_stop_does_not_keep_other_deployments_running(aws: Aws) -> None:
    codedeploy = OneStopFails()
    result = run(aws, load_event("lambda_action.json"), codedeploy=codedeploy)
    [outcome] = result["results"]
    assert result["status"] == "partial"
    assert codedeploy.stopped == ["d-2"] and outcome["deployments_stopped"] == ["d-2"]
    assert outcome["errors"][0].startswith("rollback voice-m2-runtime/voice-m2-relay-canary: d-1:")


def test_malformed_registry_parameter_is_named(aws: Aws) -> None:
    live_store.put_value(aws.ssm, f"{NS}/registry", "{not json")
    with pytest.raises(RevertConfigError, match="registry"):
        run(aws, load_event("lambda_action.json"))


def test_configured_deployment_group_overrides_the_registry(aws: Aws) -> None:
    other = replace(CONFIG, deployment_application="no-such-app", deployment_group="no-such-group")
    result = run(aws, load_event("lambda_action.json"), config=other)
    assert result["status"] == "reverted"
    assert aws.codedeploy.stopped == []  # nothing in progress in that group
    assert "no-such-app/no-such-group" in aws.messages()[0]["Message"]


def test_missing_registry_is_a_loud_configuration_error(aws: Aws) -> None:
    with pytest.raises(RevertConfigError, match="no usable compiled registry"):
        run(aws, load_event("lambda_action.json"), config=replace(CONFIG, namespace="/other/namespace"))


def test_config_from_env() -> None:
    with pytest.raises(RevertConfigError, match="VOICE_NAMESPACE"):
        HandlerConfig.from_env({})
    config = HandlerConfig.from_env({"VOICE_NAMESPACE": "/a/b/", "VOICE_TOPIC_ARN_PREFIX": "arn:aws:sns:eu-west-1:1:",
                                     "VOICE_DEPLOYMENT_APPLICATION": "app", "VOICE_DEPLOYMENT_GROUP": "grp"})
    assert (config.namespace, config.deployment) == ("/a/b", ("app", "grp"))
    [transition] = parse_event(load_event("lambda_action.json"))
    assert config.topic_arn("oncall", transition) == "arn:aws:sns:eu-west-1:1:oncall"
    assert HandlerConfig(NS).topic_arn("oncall", transition) == "arn:aws:sns:us-east-1:123456789012:oncall"
    cdk = HandlerConfig.from_env({"VOICE_NAMESPACE": NS, "VOICE_TOPIC_ARNS": '{"oncall": "arn:aws:sns:r:1:Gen-123"}'})
    assert cdk.topic_arn("oncall", transition) == "arn:aws:sns:r:1:Gen-123"
    with pytest.raises(RevertConfigError, match="VOICE_TOPIC_ARNS"):
        HandlerConfig.from_env({"VOICE_NAMESPACE": NS, "VOICE_TOPIC_ARNS": "[1]"})


class LambdaContext:
    aws_request_id = "req-1"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:voice-rollout-revert"


def test_lambda_handler_entry_point_reads_env_and_raises_when_incomplete(aws: Aws,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOICE_NAMESPACE", NS)
    monkeypatch.setattr(handler_module, "_clients", None)
    # The real boto3 codedeploy client (moto) cannot StopDeployment: the revert is incomplete, and the entry point
    # raises so that Lambda retries the invocation (the retry runs only the stop).
    with pytest.raises(RevertIncomplete, match="rollback voice-m2-runtime/voice-m2-relay-canary") as info:
        lambda_handler(load_event("lambda_action.json"), LambdaContext())
    assert info.value.result["status"] == "partial"
    assert live_store.read_live_state(boto3.client("ssm", region_name="us-east-1"), NS).overrides[
        "sonic-unified"].share == 0
    monkeypatch.setattr(handler_module, "_clients", None)


def test_its_own_notification_delivered_back_through_sns_is_rejected_not_looped(aws: Aws) -> None:
    # When the revert Lambda is subscribed to the same topic it notifies, its own message comes back to it.
    run(aws, load_event("lambda_action.json"))
    [own] = aws.messages()
    echo = load_event("sns_notification.json")
    echo["Records"][0]["Sns"]["Message"] = own["Message"]
    result = run(aws, echo, clock_offset=5)
    assert result["status"] == "rejected" and "not the alarm JSON" in result["error"]
    assert aws.messages() == [] and aws.override_versions("sonic-unified") == 1
