"""The relay's own rollout and stop, as intent: an ECS canary on a weighted listener rule watched by the registry's
rollback alarms (rolled back on alarm), and ECS/ALB stop timings that fit the runtime's own bounds."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match

from infra.components.canary import MIN_BAKE_MINUTES, alarm_window_minutes, canary_plan
from infra.components.relay_service import RELAY_RUNTIME, STOP_TIMEOUT_SECONDS, StopTiming, stop_timing
from tests.infra.conftest import Synthesized
from tests.infra.template_text import logical_id
from voice_runtime.session import longest_turn
from voice_runtime.settings import RuntimeSettings
from voice_runtime.shutdown import stop_bound


def rollback_alarms(synthesized: Synthesized) -> list[str]:
    return sorted(n for n, a in synthesized.registry.alarms.items() if a.actions.rollback_deployment)


def test_the_relay_rolls_out_by_canary_and_rolls_back_on_the_registry_alarms(synthesized: Synthesized) -> None:
    template = synthesized.runtime
    plan = canary_plan(synthesized.built.plan.alarms)
    rule = logical_id(template, "AWS::ElasticLoadBalancingV2::ListenerRule", Priority=1)
    synthesized.runtime_template.has_resource_properties("AWS::ECS::Service", {
        "DeploymentController": {"Type": "ECS"},
        "DeploymentConfiguration": Match.object_like({
            "Strategy": "CANARY",
            "CanaryConfiguration": {"CanaryPercent": 10, "CanaryBakeTimeInMinutes": plan.bake_minutes},
            "BakeTimeInMinutes": plan.deployment_bake_minutes,
            "Alarms": {"AlarmNames": rollback_alarms(synthesized), "Enable": True, "Rollback": True},
        }),
        "LoadBalancers": [Match.object_like({
            "ContainerName": "relay",
            "AdvancedConfiguration": Match.object_like({
                "AlternateTargetGroupArn": {"Ref": Match.any_value()},
                "ProductionListenerRule": {"Ref": rule},
                "RoleArn": Match.any_value(),
            }),
        })],
    })
    # The production rule forwards to both groups (ECS moves the weights between them).
    service = next(r for r in template["Resources"].values() if r["Type"] == "AWS::ECS::Service")
    lb = service["Properties"]["LoadBalancers"][0]
    blue, green_group = lb["TargetGroupArn"]["Ref"], lb["AdvancedConfiguration"]["AlternateTargetGroupArn"]["Ref"]
    assert blue != green_group
    synthesized.runtime_template.has_resource_properties("AWS::ElasticLoadBalancingV2::ListenerRule", {
        "Priority": 1,
        "Conditions": [{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}],
        "Actions": [{"Type": "forward", "ForwardConfig": {"TargetGroups": [
            {"TargetGroupArn": {"Ref": blue}, "Weight": 100}, {"TargetGroupArn": {"Ref": green_group}, "Weight": 0}]}}],
    })
    # ECS's role for moving the weights carries AWS's policy for exactly that.
    role = lb["AdvancedConfiguration"]["RoleArn"]["Fn::GetAtt"][0]
    assert "AmazonECSInfrastructureRolePolicyForLoadBalancers" in str(
        template["Resources"][role]["Properties"]["ManagedPolicyArns"])
    assert template["Resources"][role]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "ecs.amazonaws.com"}


def test_each_bake_lasts_the_longest_rollback_alarm_window(synthesized: Synthesized) -> None:
    alarms = synthesized.built.plan.alarms
    plan = canary_plan(alarms)
    windows = [alarm_window_minutes(a) for a in alarms if a.rollback_deployment]
    assert windows == [10]  # VoiceM2_P95_Breach: 2 x 300 s
    assert plan.bake_minutes == plan.deployment_bake_minutes == max(windows) >= MIN_BAKE_MINUTES
    assert plan.alarm_names == tuple(rollback_alarms(synthesized))
    assert canary_plan([]).bake_minutes == MIN_BAKE_MINUTES and canary_plan([]).alarm_names == ()


def test_ecs_and_alb_stop_timings_fit_the_runtime_bounds(synthesized: Synthesized) -> None:
    timing = stop_timing(RELAY_RUNTIME)
    assert RELAY_RUNTIME.max_session_seconds is not None
    # Every session on a deregistering task reaches a turn boundary past its age limit, and its 1012, before the
    # ALB's deregistration delay ends; SIGTERM's whole stop bound fits ECS's stop timeout.
    assert timing.deregistration_delay_seconds >= RELAY_RUNTIME.max_session_seconds + longest_turn(RELAY_RUNTIME)
    assert stop_bound(RELAY_RUNTIME) < timing.stop_timeout_seconds == STOP_TIMEOUT_SECONDS
    groups = [r["Properties"] for r in synthesized.runtime["Resources"].values()
              if r["Type"] == "AWS::ElasticLoadBalancingV2::TargetGroup"]
    assert len(groups) == 2  # blue and green: whichever serves, it drains the same way
    for group in groups:
        assert group["HealthCheckPath"] == "/healthz" and group["TargetType"] == "ip"
        assert {"Key": "deregistration_delay.timeout_seconds",
                "Value": str(timing.deregistration_delay_seconds)} in group["TargetGroupAttributes"]
    synthesized.runtime_template.has_resource_properties("AWS::ECS::TaskDefinition", {
        "ContainerDefinitions": [Match.object_like({
            "StopTimeout": timing.stop_timeout_seconds,
            "Command": Match.array_with(["--max-session-seconds", f"{RELAY_RUNTIME.max_session_seconds:g}",
                                         "--drain-seconds", f"{RELAY_RUNTIME.drain_seconds:g}",
                                         "--shutdown-seconds", f"{RELAY_RUNTIME.shutdown_seconds:g}"]),
        })]})


@pytest.mark.parametrize("runtime", [
    pytest.param(RuntimeSettings(max_session_seconds=480, drain_seconds=115, shutdown_seconds=10), id="drain-too-long"),
])
def test_a_stop_bound_that_ecs_would_cut_is_refused(runtime: RuntimeSettings) -> None:
    with pytest.raises(ValueError, match="stop timeout"):
        stop_timing(runtime)


def test_stop_timing_is_pure_data() -> None:
    assert stop_timing(RELAY_RUNTIME) == StopTiming(480 + 180 + 30, 120)
