"""The CDK-free parts of infra: ARNs, the relay's grants, alarm property mapping, template summaries."""

from __future__ import annotations

import pytest

from control_plane.compiler import AwsTarget, compile_plan
from infra.arns import ArnScope
from infra.components.alarms import UnmappedAlarmArgument, alarm_properties
from infra.components.revert_function import failure_topic
from infra.permissions import llm_grant, relay_grants
from infra.stacks.control_plane import dashboard_name
from infra.synth import summarize_template, validation_messages
from registry.compiled import CompiledRegistry
from registry.loader import load_file
from tests.conftest import EXAMPLE

ARNS = ArnScope("aws", "eu-west-1", "111122223333")


def compiled_example() -> CompiledRegistry:
    registry = load_file(EXAMPLE).registry
    assert registry is not None
    return compile_plan(registry).compiled


@pytest.mark.parametrize(("arn", "expected"), [
    pytest.param(ARNS.parameter("/ns/overrides/x"), "arn:aws:ssm:eu-west-1:111122223333:parameter/ns/overrides/x",
                 id="ssm-one-slash"),
    pytest.param(ARNS.alarm("A"), "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:A", id="alarm"),
    pytest.param(ARNS.foundation_model("amazon.nova-sonic-v1:0"),
                 "arn:aws:bedrock:eu-west-1::foundation-model/amazon.nova-sonic-v1:0", id="model-no-account"),
    pytest.param(ARNS.sagemaker_endpoint("CSM-1B"), "arn:aws:sagemaker:eu-west-1:111122223333:endpoint/csm-1b",
                 id="endpoint-lowercase"),
    pytest.param(ARNS.deployment_group("app", "grp"),
                 "arn:aws:codedeploy:eu-west-1:111122223333:deploymentgroup:app/grp", id="deployment-group"),
])
def test_arns(arn: str, expected: str) -> None:
    assert arn == expected


def test_parameter_tree_covers_the_namespace_and_below_only() -> None:
    assert ARNS.parameter_tree("/a/b") == ["arn:aws:ssm:eu-west-1:111122223333:parameter/a/b",
                                           "arn:aws:ssm:eu-west-1:111122223333:parameter/a/b/*"]


def test_relay_grants_follow_the_variants() -> None:
    compiled = compiled_example()
    grants = {a: g.resources for g in relay_grants(compiled, ARNS, llm_model_id="m") for a in g.actions}
    # the stream needs bedrock:InvokeModel (Bedrock API reference); no IAM action is named after the operation
    assert grants["bedrock:InvokeModel"] == (
        "arn:aws:bedrock:eu-west-1::foundation-model/amazon.nova-sonic-v1:0",)
    assert grants["bedrock:InvokeModelWithResponseStream"] == ("arn:aws:bedrock:eu-west-1::foundation-model/m",)
    # WHEN the registry has no CSM and no M1 variant THEN no SageMaker, Transcribe or Polly at all
    only_sonic = compiled.model_copy(update={"variants": {"sonic-unified": compiled.variants["sonic-unified"]}})
    actions = {a for g in relay_grants(only_sonic, ARNS, llm_model_id="m") for a in g.actions}
    assert actions == {"ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath",
                       "bedrock:InvokeModel"}


def test_alarm_properties_rename_and_swap_action_arns() -> None:
    target = AwsTarget()
    args = {"AlarmName": "A", "MetricName": "M", "Namespace": "N", "ExtendedStatistic": "p95",
            "Dimensions": [{"Name": "Variant", "Value": "v"}], "Period": 60, "EvaluationPeriods": 2,
            "DatapointsToAlarm": 2, "Threshold": 1.5, "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "breaching", "AlarmActions": [target.topic_arn("t"), target.revert_function_arn],
            "OKActions": []}
    props = alarm_properties(args, {target.topic_arn("t"): "TOPIC", target.revert_function_arn: "FN"})
    assert props["alarm_actions"] == ["TOPIC", "FN"]
    assert props["extended_statistic"] == "p95"
    assert props["dimensions"] == [{"name": "Variant", "value": "v"}]
    assert props["datapoints_to_alarm"] == 2 and props["treat_missing_data"] == "breaching"
    assert "statistic" not in props


@pytest.mark.parametrize("args", [
    pytest.param({"AlarmName": "A", "Metrics": []}, id="unknown-argument"),
    pytest.param({"AlarmName": "A", "AlarmActions": ["arn:aws:sns:us-east-1:1:elsewhere"]}, id="foreign-action"),
])
def test_alarm_properties_refuse_what_they_cannot_deploy(args: dict[str, object]) -> None:
    with pytest.raises(UnmappedAlarmArgument):
        alarm_properties(args, {})


def test_every_compiled_alarm_argument_maps() -> None:
    registry = load_file(EXAMPLE).registry
    assert registry is not None
    target = AwsTarget()
    plan = compile_plan(registry, target)
    deployed = {target.topic_arn(t.name): t.name for t in plan.topics} | {target.revert_function_arn: "fn"}
    for spec in plan.alarms:
        assert len(alarm_properties(spec.args, deployed)) == len(spec.args)


def test_summarize_template_counts_types_and_lists_alarms() -> None:
    template = {"Resources": {
        "A": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"AlarmName": "z"}},
        "B": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"AlarmName": "a"}},
        "C": {"Type": "AWS::SNS::Topic", "Properties": {}},
    }}
    summary = summarize_template("S", template)
    assert summary.resources == {"AWS::CloudWatch::Alarm": 2, "AWS::SNS::Topic": 1}
    assert summary.alarms == ["a", "z"] and summary.resource_total == 3


def test_dashboard_name_is_legal() -> None:
    assert dashboard_name("/silentinfinity/voice") == "voice-rollout-silentinfinity-voice"


def test_validation_messages_read_cdk_validation_report() -> None:
    report = {"pluginReports": [{"pluginName": "CloudFormation Validate", "violations": [
        {"ruleName": "F0001", "description": "Resources must exist", "severity": "warning",
         "violatingConstructs": [{"constructPath": "S"}]}]}]}
    assert validation_messages(report) == ["warning F0001 at S: Resources must exist"]
    assert validation_messages({"pluginReports": []}) == []


def test_llm_grant_on_an_inference_profile_covers_the_profile_and_its_model() -> None:
    grant = llm_grant("us.anthropic.claude-sonnet-4-6-v1:0", ARNS)
    assert grant.resources == (
        "arn:aws:bedrock:eu-west-1:111122223333:inference-profile/us.anthropic.claude-sonnet-4-6-v1:0",
        "arn:aws:bedrock:*::foundation-model/anthropic.claude-sonnet-4-6-v1:0")


def test_failure_topic_is_one_a_reverting_alarm_notifies() -> None:
    registry = load_file(EXAMPLE).registry
    assert registry is not None
    alarms = compile_plan(registry).alarms
    # the engineering topic is notified only by the alarm that does not revert
    assert failure_topic(alarms) == "voice-m2-oncall"
    assert failure_topic(tuple(a for a in alarms if not a.revert and not a.rollback_deployment)) is None
