"""A change in the YAML alone (a new alarm, a new threshold) reaches the synthesised template with no other edit;
and the one deployment knob that changes security (the relay's certificate) does what it says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLE
from tests.infra.conftest import CERTIFICATE  # (importing it sets the jsii environment before aws_cdk)
from tests.infra.template_text import logical_id

NEW_ALARM = """alarms:
  VoiceM2_CSM_Latency:
    description: CSM-1B p99 latency (added by the test)
    metric: VoiceM2_TTFA_ms
    statistic: p99
    dimensions: {Variant: sesame-csm1b}
    period: 60
    evaluation_periods: 5
    datapoints_to_alarm: 3
    threshold: 1200
    comparison: GreaterThanOrEqualToThreshold
    treat_missing_data: breaching
    actions: {notify: [voice-m2-csm], revert: [sesame-csm1b]}

"""


@pytest.fixture(scope="module")
def changed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from aws_cdk.assertions import Template

    from infra.assembly import build_app
    from infra.settings import InfraSettings
    from registry.loader import load_file

    text = EXAMPLE.read_text()
    assert text.count("\nalarms:\n") == 1 and text.count("\ntopics:\n") == 1
    assert text.count("threshold: 800\n") == 1
    edited = (text.replace("\nalarms:\n", "\n" + NEW_ALARM, 1)
              .replace("\ntopics:\n", "\ntopics:\n  voice-m2-csm: {display_name: Voice CSM}\n", 1)
              .replace("threshold: 800\n", "threshold: 650\n", 1))
    path: Path = tmp_path_factory.mktemp("registry") / "voice-m2.yaml"
    path.write_text(edited)
    result = load_file(path)
    assert result.registry is not None, [str(d) for d in result.diagnostics]
    settings = InfraSettings(relay_certificate_arn=CERTIFICATE, cfn_schema_validation=False)
    built = build_app(result.registry, settings=settings, outdir=str(tmp_path_factory.mktemp("cdk.out")))
    return {"control": Template.from_stack(built.control_plane).to_json(),
            "runtime": Template.from_stack(built.runtime).to_json()}


def alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["Properties"]["AlarmName"]: r["Properties"] for r in template["Resources"].values()
            if r["Type"] == "AWS::CloudWatch::Alarm"}


def test_new_alarm_appears_with_its_figures_and_actions(changed: dict[str, Any]) -> None:
    template = changed["control"]
    found = alarms(template)
    assert len(found) == 5
    new = found["VoiceM2_CSM_Latency"]
    assert {k: new[k] for k in ("ExtendedStatistic", "Period", "EvaluationPeriods", "DatapointsToAlarm",
                                "Threshold", "ComparisonOperator", "TreatMissingData", "Dimensions")} == {
        "ExtendedStatistic": "p99", "Period": 60, "EvaluationPeriods": 5, "DatapointsToAlarm": 3,
        "Threshold": 1200, "ComparisonOperator": "GreaterThanOrEqualToThreshold", "TreatMissingData": "breaching",
        "Dimensions": [{"Name": "Variant", "Value": "sesame-csm1b"}]}
    # its notify topic did not exist before: the YAML alone created it, and the revert permission with it
    topic = logical_id(template, "AWS::SNS::Topic", TopicName="voice-m2-csm")
    revert = logical_id(template, "AWS::Lambda::Function", FunctionName="voice-rollout-revert")
    assert new["AlarmActions"] == [{"Ref": topic}, {"Fn::GetAtt": [revert, "Arn"]}]
    sources = [r["Properties"]["SourceArn"] for r in template["Resources"].values()
               if r["Type"] == "AWS::Lambda::Permission"]
    assert any("alarm:VoiceM2_CSM_Latency" in str(s) for s in sources)


def test_changed_threshold_appears(changed: dict[str, Any]) -> None:
    assert alarms(changed["control"])["VoiceM2_P95_Breach"]["Threshold"] == 650


def test_with_a_certificate_the_relay_listens_on_https_and_redirects_http(changed: dict[str, Any]) -> None:
    listeners = {r["Properties"]["Protocol"]: r["Properties"] for r in changed["runtime"]["Resources"].values()
                 if r["Type"] == "AWS::ElasticLoadBalancingV2::Listener"}
    assert sorted(listeners) == ["HTTP", "HTTPS"]
    assert listeners["HTTPS"]["Certificates"] == [{"CertificateArn": CERTIFICATE}]
    assert listeners["HTTP"]["DefaultActions"][0]["Type"] == "redirect"


def test_the_edited_app_lints_clean(changed: dict[str, Any], tmp_path: Path) -> None:
    from tests.infra.template_lint import cfn_lint_findings, checkov_report, describe, write_templates

    templates = {"changed-control": changed["control"], "changed-runtime": changed["runtime"]}
    assert cfn_lint_findings(templates) == []
    write_templates(templates, tmp_path / "t")
    assert describe(checkov_report(tmp_path / "t")["failed"]) == []
