"""control_plane.compiler: the example compiles to the memo's four alarms as exact PutMetricAlarm arguments,
its parameters sized into the right SSM tier, deterministically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from control_plane.compiler import (
    ADVANCED_TIER_LIMIT,
    AwsTarget,
    ParameterTooLarge,
    Plan,
    compile_plan,
    parameter_tier,
)
from registry.loader import load_registry, load_text
from registry.model import Registry

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "voice-m2.yaml"
REVERT_ARN = "arn:aws:lambda:us-east-1:123456789012:function:voice-rollout-revert"
ONCALL_ARN = "arn:aws:sns:us-east-1:123456789012:voice-m2-oncall"


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry(EXAMPLE)


@pytest.fixture(scope="module")
def plan(registry: Registry) -> Plan:
    return compile_plan(registry)


def alarm(plan: Plan, name: str) -> dict[str, Any]:
    return next(a.args for a in plan.alarms if a.name == name)


def test_the_memos_four_alarms(plan: Plan) -> None:
    assert [a.name for a in plan.alarms] == ["VoiceM2_Bedrock_Error_Spike", "VoiceM2_Error_Rate_Breach",
                                             "VoiceM2_P95_Breach", "VoiceM2_TTFA_Regression"]
    p95 = alarm(plan, "VoiceM2_P95_Breach")
    assert {k: p95[k] for k in ("MetricName", "Namespace", "ExtendedStatistic", "Period", "EvaluationPeriods",
                                "DatapointsToAlarm", "Threshold", "ComparisonOperator", "TreatMissingData")} == {
        "MetricName": "VoiceM2_TTFA_ms", "Namespace": "SilentInfinity/Voice", "ExtendedStatistic": "p95",
        "Period": 300, "EvaluationPeriods": 2, "DatapointsToAlarm": 2, "Threshold": 800.0,
        "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching"}
    assert "Statistic" not in p95  # CloudWatch refuses both Statistic and ExtendedStatistic
    assert p95["Dimensions"] == [{"Name": "Variant", "Value": "sonic-unified"}]
    assert p95["AlarmActions"] == [ONCALL_ARN, REVERT_ARN]

    errors = alarm(plan, "VoiceM2_Error_Rate_Breach")
    assert (errors["Statistic"], errors["Period"], errors["EvaluationPeriods"], errors["Threshold"]) == (
        "Average", 300, 2, 0.02)

    bedrock = alarm(plan, "VoiceM2_Bedrock_Error_Spike")
    assert (bedrock["Namespace"], bedrock["MetricName"], bedrock["Statistic"], bedrock["Period"],
            bedrock["EvaluationPeriods"], bedrock["Threshold"]) == (
        "AWS/Bedrock", "InvocationErrors", "Sum", 60, 1, 5.0)
    assert bedrock["Dimensions"] == [{"Name": "ModelId", "Value": "amazon.nova-sonic-v1:0"}]
    assert bedrock["AlarmActions"] == [REVERT_ARN]

    soft = alarm(plan, "VoiceM2_TTFA_Regression")
    assert (soft["ExtendedStatistic"], soft["Period"], soft["EvaluationPeriods"], soft["Threshold"]) == (
        "p50", 600, 3, 400.0)
    assert soft["AlarmActions"] == ["arn:aws:sns:us-east-1:123456789012:voice-m2-engineering"]  # notification only


def test_revert_map_and_rollback(plan: Plan) -> None:
    assert plan.revert_map == {"VoiceM2_Bedrock_Error_Spike": ("sonic-unified",),
                               "VoiceM2_Error_Rate_Breach": ("sonic-unified",),
                               "VoiceM2_P95_Breach": ("sonic-unified",)}
    assert [a.name for a in plan.alarms if a.rollback_deployment] == ["VoiceM2_P95_Breach"]
    assert plan.compiled.deployment_group == "voice-m2-relay-canary"


def test_registry_parameter(plan: Plan) -> None:
    (param,) = plan.parameters
    assert param.name == "/silentinfinity/voice/registry"
    assert param.tier == "Standard"
    value = json.loads(param.value)
    assert value["baseline"] == "transcribe-polly-baseline"
    assert value["cache_ttl_seconds"] == 30
    assert [p["name"] for p in value["phases"]][-1] == "PathB_CSM_Internal"
    assert value["phases"][-1]["path"] == "csm-fallback"
    assert value["variants"]["sonic-unified"]["backend"] == "nova_sonic"
    assert value["variants"]["ws-echo"]["backend"] == "echo"
    assert value["variants"]["sesame-csm1b"]["backend"] == "csm_sagemaker"
    assert plan.tags == {"voice-rollout:namespace": "/silentinfinity/voice"}


def test_topics(plan: Plan) -> None:
    assert [(t.name, t.display_name) for t in plan.topics] == [
        ("voice-m2-engineering", "Voice M2 engineering"), ("voice-m2-oncall", "Voice M2 on-call")]


def test_compile_is_byte_identical(registry: Registry) -> None:
    first = compile_plan(registry).to_json()
    again = compile_plan(load_registry(EXAMPLE)).to_json()
    assert first == again
    assert json.loads(compile_plan(registry).parameters[0].value)["digest"] == compile_plan(registry).compiled.digest


def test_reordering_alarms_in_the_file_does_not_change_the_plan() -> None:
    text = EXAMPLE.read_text()
    start, end = text.index("  VoiceM2_Error_Rate_Breach:"), text.index("  VoiceM2_Bedrock_Error_Spike:")
    moved = text[:start] + text[end:text.index("topics:")] + text[start:end] + text[text.index("topics:"):]
    a, b = load_text(text).registry, load_text(moved).registry
    assert a is not None and b is not None
    assert list(a.alarms) != list(b.alarms)
    assert compile_plan(a).to_json() == compile_plan(b).to_json()


def test_target_sets_the_arns(registry: Registry) -> None:
    plan = compile_plan(registry, AwsTarget(region="eu-west-1", account_id="000000000000"))
    assert alarm(plan, "VoiceM2_Bedrock_Error_Spike")["AlarmActions"] == [
        "arn:aws:lambda:eu-west-1:000000000000:function:voice-rollout-revert"]


@pytest.mark.parametrize(("size", "tier"), [(10, "Standard"), (4096, "Standard"), (4097, "Advanced"),
                                            (8192, "Advanced")])
def test_parameter_tier(size: int, tier: str) -> None:
    assert parameter_tier("/x/registry", "a" * size) == tier


def test_parameter_too_large_is_a_clear_error() -> None:
    with pytest.raises(ParameterTooLarge) as err:
        parameter_tier("/x/registry", "é" * (ADVANCED_TIER_LIMIT // 2 + 1))  # bytes, not characters, count
    assert "/x/registry would be 8194 bytes; SSM allows at most 8192" in err.value.what
    assert (err.value.where, err.value.size, err.value.limit) == ("/x/registry", 8194, 8192)


def test_large_registry_goes_to_the_advanced_tier(registry: Registry) -> None:
    extra = {f"variant-{i:03d}": registry.variants["sonic-unified"] for i in range(12)}
    big = registry.model_copy(update={"variants": {**registry.variants, **extra}})
    (param,) = compile_plan(big).parameters
    assert 4096 < len(param.value.encode()) <= 8192
    assert param.tier == "Advanced"
