"""A registry with no alarms, topics or deployment section still deploys (and nag-clean): nothing is invented."""

from __future__ import annotations

from typing import Any

import tests.infra.conftest  # noqa: F401  (sets the jsii environment before aws_cdk is imported)


def types(template: dict[str, Any]) -> list[str]:
    return [r["Type"] for r in template["Resources"].values()]


def test_nag_clean(minimal: dict[str, Any]) -> None:
    assert minimal["findings"] == []


def test_no_alarms_topics_or_canary_are_invented(minimal: dict[str, Any]) -> None:
    assert "AWS::CloudWatch::Alarm" not in types(minimal["control"])
    assert "AWS::SNS::Topic" not in types(minimal["control"])
    assert "AWS::KMS::Key" not in types(minimal["control"])
    assert "AWS::Lambda::Permission" not in types(minimal["control"])
    [invoke] = [r["Properties"] for r in minimal["control"]["Resources"].values()
                if r["Type"] == "AWS::Lambda::EventInvokeConfig"]
    assert "DestinationConfig" not in invoke
    assert "AWS::CodeDeploy::DeploymentGroup" not in types(minimal["runtime"])


def test_revert_role_has_no_codedeploy_or_sns(minimal: dict[str, Any]) -> None:
    actions = {a for r in minimal["control"]["Resources"].values() if r["Type"] == "AWS::IAM::Policy"
               for s in r["Properties"]["PolicyDocument"]["Statement"]
               for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert not {a for a in actions if a.startswith(("codedeploy:", "sns:", "kms:"))}
    assert "ssm:PutParameter" in actions


def test_relay_gets_only_the_m1_services(minimal: dict[str, Any]) -> None:
    actions = {a for r in minimal["runtime"]["Resources"].values() if r["Type"] == "AWS::IAM::Policy"
               for s in r["Properties"]["PolicyDocument"]["Statement"]
               for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert "polly:SynthesizeSpeech" in actions and "transcribe:StartStreamTranscription" in actions
    assert not {a for a in actions if a.startswith("sagemaker:") or a.endswith("BidirectionalStream")}
