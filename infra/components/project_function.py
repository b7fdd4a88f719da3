"""A Lambda function running this project's code: Python 3.12 on ARM64, Powertools layer, its own log group and
a role with no managed policy, so every permission it has is one of the statements its owner adds."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.nag import acknowledge
from infra.settings import LAMBDA_EXCLUDES, InfraSettings

RETENTION = {1: logs.RetentionDays.ONE_DAY, 7: logs.RetentionDays.ONE_WEEK, 14: logs.RetentionDays.TWO_WEEKS,
             30: logs.RetentionDays.ONE_MONTH, 90: logs.RetentionDays.THREE_MONTHS,
             365: logs.RetentionDays.ONE_YEAR}


def retention(days: int) -> logs.RetentionDays:
    """The CloudWatch Logs retention for `days` (the nearest allowed value not shorter than asked)."""
    allowed = sorted(RETENTION)
    return RETENTION[next((d for d in allowed if d >= days), allowed[-1])]


def project_code(settings: InfraSettings) -> lambda_.Code:
    """The project's packages as a Lambda asset (one per stack: CDK binds an asset to a single stack)."""
    return lambda_.Code.from_asset(str(settings.project_root), exclude=list(LAMBDA_EXCLUDES))


class ProjectFunction(Construct):
    """One handler of the project (`handler` is a dotted 'module.function' string, never imported here)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        code: lambda_.Code,
        layer: lambda_.ILayerVersion,
        description: str,
        environment: Mapping[str, str],
        function_name: str | None = None,
        timeout_seconds: int = 30,
        memory_mb: int = 256,
        log_retention_days: int = 30,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(self, "Logs", retention=retention(log_retention_days),
                                       removal_policy=RemovalPolicy.DESTROY)
        self.role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
                             description=f"{handler}: only the statements its construct adds")
        # The basic execution managed policy allows writing to any log group; this allows its own only.
        self.role.add_to_principal_policy(iam.PolicyStatement(
            actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[self.log_group.log_group_arn]))
        self.function = lambda_.Function(
            self, "Function",
            function_name=function_name,
            description=description,
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=lambda_.Architecture.ARM_64,
            handler=handler,
            code=code,
            layers=[layer],
            role=self.role,
            log_group=self.log_group,
            timeout=Duration.seconds(timeout_seconds),
            memory_size=memory_mb,
            environment={"POWERTOOLS_SERVICE_NAME": "voice-rollout", **environment},
        )
        acknowledge(self.function, "AwsSolutions-L1",
                    "Python 3.12 is pinned on purpose: the project targets 3.12 and the Powertools layer is the "
                    "python312 build; moving runtimes is a tested change of its own")

    def allow(self, actions: list[str], resources: list[str]) -> None:
        """Add one least-privilege statement to the function's role."""
        self.role.add_to_principal_policy(iam.PolicyStatement(actions=actions, resources=resources))
