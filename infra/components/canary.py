"""Deployment safety, for both pieces of code a caller's voice touches, watched by the same registry alarms (those
marked `rollback_deployment`) and rolled back automatically when one fires:

* `CanaryDeployment`: a CodeDeploy Lambda canary on the $default handler's alias;
* the relay image: ECS's built-in canary on the ALB listener rule (infra/components/relay_service.py applies
  it): new connections go 10 % to the new task set, then all, and the old task set is kept one more bake (the
  deployment bake) so a late alarm still rolls back by switching the listener back.

`canary_plan` decides both from the alarms: each bake lasts at least the longest rollback alarm's window, since a
canary shorter than the data an alarm needs to fire would promote a regression before the alarm could see it
(the memo's p95 alarm needs 2 x 300 s: CodeDeploy's stock 10 %-for-5-minutes config was too short for it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_codedeploy as codedeploy
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from control_plane.compiler import AlarmSpec
from infra.nag import acknowledge

CANARY_PERCENT = 10
MIN_BAKE_MINUTES = 5  # CodeDeploy's stock canary: never shorter, even without an alarm


@dataclass(frozen=True)
class CanaryPlan:
    """How new code meets production traffic (pure data: decided here, applied by the constructs)."""

    percent: int
    bake_minutes: int  # time at `percent` before the rest of the traffic moves
    deployment_bake_minutes: int  # (relay) old task set kept after all traffic moved: rollback still instant
    alarm_names: tuple[str, ...]


def alarm_window_minutes(alarm: AlarmSpec) -> int:
    """Minutes of data an alarm needs to go to ALARM: its evaluation periods times its period, rounded up."""
    return math.ceil(int(alarm.args["Period"]) * int(alarm.args["EvaluationPeriods"]) / 60)


def canary_plan(alarms: Sequence[AlarmSpec]) -> CanaryPlan:
    """The registry's rollback alarms watch the canary; every bake lasts the longest one's window."""
    rollback = [a for a in alarms if a.rollback_deployment]
    window = max([MIN_BAKE_MINUTES, *(alarm_window_minutes(a) for a in rollback)])
    return CanaryPlan(CANARY_PERCENT, window, window, tuple(sorted(a.name for a in rollback)))


class CanaryDeployment(Construct):
    """Application and group named as the registry's `deployment:` names them, so the revert Lambda's
    codedeploy:StopDeployment grant (built from the same names) points at this group."""

    def __init__(self, scope: Construct, construct_id: str, *, alias: lambda_.Alias, application: str,
                 group: str, plan: CanaryPlan) -> None:
        super().__init__(scope, construct_id)
        app = codedeploy.LambdaApplication(self, "Application", application_name=application)
        alarms = [cloudwatch.Alarm.from_alarm_name(self, f"Alarm{i}", name)
                  for i, name in enumerate(plan.alarm_names)]
        config = codedeploy.LambdaDeploymentConfig(
            self, "Config", traffic_routing=codedeploy.TimeBasedCanaryTrafficRouting(
                interval=Duration.minutes(plan.bake_minutes), percentage=plan.percent))
        self.group = codedeploy.LambdaDeploymentGroup(
            self, "Group",
            application=app,
            deployment_group_name=group,
            alias=alias,
            deployment_config=config,
            alarms=alarms,
            auto_rollback=codedeploy.AutoRollbackConfig(
                failed_deployment=True, stopped_deployment=True, deployment_in_alarm=bool(alarms)),
        )
        acknowledge(self.group.role, "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
                    "service-role/AWSCodeDeployRoleForLambdaLimited]",
                    "AWS's own least-privilege policy for CodeDeploy Lambda deployments (alias updates and "
                    "hook invocations only)")
