"""A Lambda function running this project's code: Python 3.12 on ARM64, Powertools layer, its own log group and
a role with no managed policy, so every permission it has is one of the statements its owner adds."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.nag import acknowledge, acknowledge_checkov
from infra.settings import LAMBDA_EXCLUDES, InfraSettings

RETENTION = {1: logs.RetentionDays.ONE_DAY, 7: logs.RetentionDays.ONE_WEEK, 14: logs.RetentionDays.TWO_WEEKS,
             30: logs.RetentionDays.ONE_MONTH, 90: logs.RetentionDays.THREE_MONTHS,
             365: logs.RetentionDays.ONE_YEAR}

# Why a function called synchronously needs no dead-letter queue (checkov CKV_AWS_116).
SYNC_NO_DLQ = ("invoked synchronously (API Gateway waits for the result and the caller sees the error); a "
               "dead-letter queue only receives failed asynchronous invocations")


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
        reserved_concurrency: int | None = None,
        unreserved_because: str = "",
        no_dlq_because: str = SYNC_NO_DLQ,
    ) -> None:
        """`reserved_concurrency`: executions kept for this function whatever else runs in the account; without
        it, `unreserved_because` says why not (checkov CKV_AWS_115). `no_dlq_because`: why failed invocations need
        no dead-letter queue (CKV_AWS_116)."""
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
            reserved_concurrent_executions=reserved_concurrency,
        )
        self._acknowledge_checkov(reserved_concurrency, unreserved_because, no_dlq_because)
        acknowledge(self.function, "AwsSolutions-L1",
                    "Python 3.12 is pinned on purpose: the project targets 3.12 and the Powertools layer is the "
                    "python312 build; moving runtimes is a tested change of its own")

    def _acknowledge_checkov(self, reserved: int | None, unreserved_because: str, no_dlq_because: str) -> None:
        acknowledge_checkov(self.log_group, "CKV_AWS_158",
                            "CloudWatch Logs encrypts every log group at rest; a customer-managed key would add a "
                            "key policy per group for logs that hold no audio, transcripts or secrets")
        acknowledge_checkov(self.function, "CKV_AWS_117",
                            "the function calls public AWS APIs only (SSM, SNS, CodeDeploy, API Gateway); a VPC "
                            "would need NAT or endpoints and add cold-start time without isolating anything")
        acknowledge_checkov(self.function, "CKV_AWS_173",
                            "the environment holds configuration only (namespace, names, ARNs); secrets are read "
                            "from SSM SecureStrings at run time")
        acknowledge_checkov(self.function, "CKV_AWS_116", no_dlq_because)
        if reserved is None:
            acknowledge_checkov(self.function, "CKV_AWS_115", unreserved_because)

    def allow(self, actions: list[str], resources: list[str]) -> None:
        """Add one least-privilege statement to the function's role."""
        self.role.add_to_principal_policy(iam.PolicyStatement(actions=actions, resources=resources))
