"""Deployment safety: a CodeDeploy Lambda canary on the $default handler's alias, rolled back automatically when
the deployment fails or any registry alarm marked `rollback_deployment` fires."""

from __future__ import annotations

from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_codedeploy as codedeploy
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.nag import acknowledge

CANARY = codedeploy.LambdaDeploymentConfig.CANARY_10_PERCENT_5_MINUTES


class CanaryDeployment(Construct):
    """Application and group named as the registry's `deployment:` names them, so the revert Lambda's
    codedeploy:StopDeployment grant (built from the same names) points at this group."""

    def __init__(self, scope: Construct, construct_id: str, *, alias: lambda_.Alias, application: str,
                 group: str, alarm_names: list[str]) -> None:
        super().__init__(scope, construct_id)
        app = codedeploy.LambdaApplication(self, "Application", application_name=application)
        alarms = [cloudwatch.Alarm.from_alarm_name(self, f"Alarm{i}", name) for i, name in enumerate(alarm_names)]
        self.group = codedeploy.LambdaDeploymentGroup(
            self, "Group",
            application=app,
            deployment_group_name=group,
            alias=alias,
            deployment_config=CANARY,
            alarms=alarms,
            auto_rollback=codedeploy.AutoRollbackConfig(
                failed_deployment=True, stopped_deployment=True, deployment_in_alarm=bool(alarms)),
        )
        acknowledge(self.group.role, "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/"
                    "service-role/AWSCodeDeployRoleForLambdaLimited]",
                    "AWS's own least-privilege policy for CodeDeploy Lambda deployments (alias updates and "
                    "hook invocations only)")
