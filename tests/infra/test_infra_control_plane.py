"""Control-plane stack: the registry's alarms, parameters, topics and revert Lambda, asserted on the template."""

from __future__ import annotations

from typing import Any

import pytest
from aws_cdk.assertions import Match

from control_plane.compiler import REVERT_FUNCTION_NAME, compile_plan
from registry.statistics import SIMPLE_STATISTICS
from tests.infra.conftest import Synthesized
from tests.infra.template_text import as_list, logical_id, policy_statements, text

NS = "/silentinfinity/voice"


def alarms_of(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["Properties"]["AlarmName"]: r["Properties"] for r in template["Resources"].values()
            if r["Type"] == "AWS::CloudWatch::Alarm"}


def test_alarm_count_equals_the_registry(synthesized: Synthesized) -> None:
    synthesized.control_template.resource_count_is("AWS::CloudWatch::Alarm", len(synthesized.registry.alarms))
    assert sorted(alarms_of(synthesized.control)) == sorted(synthesized.registry.alarms)


def test_each_alarm_has_the_registry_figures(synthesized: Synthesized) -> None:
    registry = synthesized.registry
    for name, alarm in registry.alarms.items():
        stat_key = "Statistic" if alarm.statistic in SIMPLE_STATISTICS else "ExtendedStatistic"
        expected = {
            "AlarmName": name,
            "MetricName": alarm.metric,
            "Namespace": alarm.namespace or registry.metrics_namespace,
            stat_key: alarm.statistic,
            "Dimensions": [{"Name": k, "Value": v} for k, v in sorted(alarm.dimensions.items())],
            "Period": alarm.period,
            "EvaluationPeriods": alarm.evaluation_periods,
            "DatapointsToAlarm": alarm.datapoints_to_alarm or alarm.evaluation_periods,
            "Threshold": alarm.threshold,
            "ComparisonOperator": alarm.comparison.value,
            "TreatMissingData": alarm.treat_missing_data.value,
        }
        if alarm.unit:
            expected["Unit"] = alarm.unit
        synthesized.control_template.has_resource_properties("AWS::CloudWatch::Alarm", expected)


def test_each_alarm_acts_as_the_registry_says(synthesized: Synthesized) -> None:
    template = synthesized.control
    revert_fn = logical_id(template, "AWS::Lambda::Function", FunctionName=REVERT_FUNCTION_NAME)
    alarms = alarms_of(template)
    for name, alarm in synthesized.registry.alarms.items():
        expected = [{"Ref": logical_id(template, "AWS::SNS::Topic", TopicName=t)} for t in alarm.actions.notify]
        if alarm.actions.revert or alarm.actions.rollback_deployment:
            expected.append({"Fn::GetAtt": [revert_fn, "Arn"]})
        assert alarms[name]["AlarmActions"] == expected, name
        assert alarms[name]["ActionsEnabled"] is True


def test_revert_alarms_may_invoke_the_function_and_nothing_else_may(synthesized: Synthesized) -> None:
    template = synthesized.control
    permissions = [r["Properties"] for r in template["Resources"].values() if r["Type"] == "AWS::Lambda::Permission"]
    reverting = sorted(n for n, a in synthesized.registry.alarms.items()
                       if a.actions.revert or a.actions.rollback_deployment)
    assert reverting, "the example must have revert alarms for this test to mean anything"
    assert all(p["Principal"] == "lambda.alarms.cloudwatch.amazonaws.com" for p in permissions)
    sources = sorted(text(p["SourceArn"]).rsplit(":alarm:", 1)[1] for p in permissions)
    assert sources == reverting
    assert all(text(p["SourceAccount"]) == "<AWS::AccountId>" for p in permissions)


def test_revert_function_runtime_layer_and_environment(synthesized: Synthesized) -> None:
    synthesized.control_template.has_resource_properties("AWS::Lambda::Function", {
        "FunctionName": REVERT_FUNCTION_NAME,
        "Handler": "control_plane.alarms.handler.lambda_handler",
        "Runtime": "python3.12",
        "Architectures": ["arm64"],
        "Environment": {"Variables": Match.object_like({"VOICE_NAMESPACE": NS,
                                                        "VOICE_DEPLOYMENT_GROUP": "voice-m2-relay-canary"})},
    })
    fn = synthesized.control["Resources"][
        logical_id(synthesized.control, "AWS::Lambda::Function", FunctionName=REVERT_FUNCTION_NAME)]
    layers = [text(x) for x in fn["Properties"]["Layers"]]
    assert layers == ["arn:<AWS::Partition>:lambda:<AWS::Region>:017000801446:layer:"
                      "AWSLambdaPowertoolsPythonV3-python312-arm64:27"]


def revert_statements(synthesized: Synthesized) -> dict[str, list[str]]:
    """action -> resources (as text) of the revert function's role."""
    template = synthesized.control
    fn = template["Resources"][logical_id(template, "AWS::Lambda::Function", FunctionName=REVERT_FUNCTION_NAME)]
    role = fn["Properties"]["Role"]["Fn::GetAtt"][0]
    assert not template["Resources"][role]["Properties"].get("ManagedPolicyArns"), "no managed policy"
    by_action: dict[str, list[str]] = {}
    for statement in policy_statements(template, role):
        assert statement["Effect"] == "Allow"
        for action in as_list(statement["Action"]):
            by_action.setdefault(action, []).extend(text(r) for r in as_list(statement["Resource"]))
    return by_action


def test_revert_iam_is_scoped_to_the_namespace_topics_and_deployment_group(synthesized: Synthesized) -> None:
    template = synthesized.control
    by_action = revert_statements(synthesized)
    param = f"arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter{NS}"
    assert by_action["ssm:PutParameter"] == [f"{param}/overrides/*"]
    for action in ("ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"):
        assert sorted(by_action[action]) == [param, f"{param}/*"]
    topics = sorted(f"<{logical_id(template, 'AWS::SNS::Topic', TopicName=t)}>"
                    for t in ("voice-m2-oncall", "voice-m2-engineering"))
    assert sorted(by_action["sns:Publish"]) == topics
    group = ("arn:<AWS::Partition>:codedeploy:<AWS::Region>:<AWS::AccountId>:"
             "deploymentgroup:voice-m2-runtime/voice-m2-relay-canary")
    for action in ("codedeploy:StopDeployment", "codedeploy:ListDeployments", "codedeploy:GetDeployment"):
        assert by_action[action] == [group]
    everything = [r for resources in by_action.values() for r in resources]
    assert "*" not in everything
    assert not [a for a in by_action if a.endswith("*")], "no wildcard actions"
    assert set(by_action) == {"logs:CreateLogStream", "logs:PutLogEvents", "ssm:PutParameter", "ssm:GetParameter",
                              "ssm:GetParameters", "ssm:GetParametersByPath", "sns:Publish", "kms:GenerateDataKey",
                              "kms:Decrypt", "codedeploy:StopDeployment", "codedeploy:ListDeployments",
                              "codedeploy:GetDeployment"}


def test_topics_are_encrypted_and_refuse_plain_http_publishers(synthesized: Synthesized) -> None:
    template = synthesized.control_template
    for topic in ("voice-m2-oncall", "voice-m2-engineering"):
        template.has_resource_properties("AWS::SNS::Topic", {"TopicName": topic,
                                                             "KmsMasterKeyId": Match.any_value()})
    template.resource_count_is("AWS::SNS::TopicPolicy", 2)
    template.has_resource_properties("AWS::SNS::TopicPolicy", {"PolicyDocument": {"Statement": Match.array_with([
        Match.object_like({"Effect": "Deny", "Action": "sns:Publish",
                           "Condition": {"Bool": {"aws:SecureTransport": "false"}}})])}})
    template.has_resource_properties("AWS::KMS::Key", {"EnableKeyRotation": True})


def test_parameters_are_the_plan_parameters(synthesized: Synthesized) -> None:
    plan = compile_plan(synthesized.registry)
    synthesized.control_template.resource_count_is("AWS::SSM::Parameter", len(plan.parameters))
    for spec in plan.parameters:
        synthesized.control_template.has_resource_properties("AWS::SSM::Parameter", {
            "Name": spec.name, "Value": spec.value, "Tier": spec.tier, "Type": "String"})


@pytest.mark.parametrize("needle", [
    pytest.param("VoiceM2_TTFA_ms", id="ttfa"),
    pytest.param('"p50"', id="p50"),
    pytest.param('"p95"', id="p95"),
    pytest.param("VoiceM2_SessionError", id="session-errors"),
    pytest.param("VoiceM2_BargeIn", id="barge-in"),
    pytest.param('"type":"alarm"', id="alarm-status"),
    pytest.param("sonic-unified", id="variant"),
])
def test_dashboard_shows_the_oncall_metrics(synthesized: Synthesized, needle: str) -> None:
    dashboards = [r for r in synthesized.control["Resources"].values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
    assert len(dashboards) == 1
    assert needle in text(dashboards[0]["Properties"]["DashboardBody"])


def test_a_revert_that_keeps_failing_is_reported_to_the_oncall_topic(synthesized: Synthesized) -> None:
    template = synthesized.control
    oncall = logical_id(template, "AWS::SNS::Topic", TopicName="voice-m2-oncall")
    synthesized.control_template.has_resource_properties("AWS::Lambda::EventInvokeConfig", {
        "FunctionName": {"Ref": logical_id(template, "AWS::Lambda::Function", FunctionName=REVERT_FUNCTION_NAME)},
        "MaximumRetryAttempts": 2,
        "DestinationConfig": {"OnFailure": {"Destination": {"Ref": oncall}}},
    })


def readable(patterns: list[str], arn: str) -> bool:
    """Would an Allow on these resource patterns (IAM wildcards) cover `arn`?"""
    from fnmatch import fnmatchcase

    return any(fnmatchcase(arn, pattern) for pattern in patterns)


def test_the_revert_function_cannot_read_the_secrets_it_does_not_use(synthesized: Synthesized) -> None:
    by_action = revert_statements(synthesized)
    reads = [r for action, rs in by_action.items() if action.startswith("ssm:GetParameter") for r in rs]
    base = "arn:<AWS::Partition>:ssm:<AWS::Region>:<AWS::AccountId>:parameter"
    assert readable(reads, f"{base}{NS}/registry")  # it does read the namespace (the check can hold)
    for secret in ("ws_token", "internal_token"):
        assert not readable(reads, f"{base}{NS}-secrets/{secret}")


def test_the_revert_function_has_reserved_concurrency(synthesized: Synthesized) -> None:
    fn = synthesized.control["Resources"][
        logical_id(synthesized.control, "AWS::Lambda::Function", FunctionName=REVERT_FUNCTION_NAME)]
    assert fn["Properties"]["ReservedConcurrentExecutions"] == 2


def test_cloudwatch_may_use_the_topic_key_for_this_account_only(synthesized: Synthesized) -> None:
    [key] = [r["Properties"] for r in synthesized.control["Resources"].values() if r["Type"] == "AWS::KMS::Key"]
    [grant] = [s for s in key["KeyPolicy"]["Statement"]
               if s.get("Principal", {}).get("Service") == "cloudwatch.amazonaws.com"]
    assert grant["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
