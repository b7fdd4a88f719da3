"""The revert Lambda: alarm -> override parameters, notification, CodeDeploy stop. Its IAM is the point here:
it may write only the namespace's automated overrides, read only the namespace, publish only to its topics and
stop only its own deployment group's deployments."""

from __future__ import annotations

import json

from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from control_plane.compiler import AlarmSpec
from infra.arns import NAG_ARNS, ArnScope
from infra.components.project_function import ProjectFunction
from infra.nag import acknowledge
from registry.compiled import CompiledRegistry

REVERT_HANDLER = "control_plane.alarms.handler.lambda_handler"
# CloudWatch invokes alarm actions asynchronously: Lambda retries a failed revert twice, then gives up.
REVERT_RETRIES = 2
# CloudWatch fires an action once per transition and never re-sends it: after this long without success the
# event goes to the failure topic, so a person learns the revert did not happen (the alarm stays in ALARM).
REVERT_MAX_AGE = 600


def failure_topic(alarms: tuple[AlarmSpec, ...]) -> str | None:
    """Where a revert that failed every retry is reported: the first topic (by name) that a reverting alarm
    notifies, i.e. the people who expect the revert; None when no reverting alarm notifies anyone (pure)."""
    topics = sorted({t for a in alarms if a.revert or a.rollback_deployment for t in a.notify})
    return topics[0] if topics else None


class RevertFunction(Construct):
    """The function CloudWatch alarm actions invoke, named as the compiler's AwsTarget names it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        compiled: CompiledRegistry,
        metrics_namespace: str,
        function_name: str,
        topics: dict[str, sns.Topic],
        topic_key_arn: str | None,
        alarms: tuple[AlarmSpec, ...],
        arns: ArnScope,
        code: lambda_.Code,
        layer: lambda_.ILayerVersion,
        log_retention_days: int,
        reserved_concurrency: int | None,
    ) -> None:
        super().__init__(scope, construct_id)
        ns = compiled.namespace
        environment = {
            "VOICE_NAMESPACE": ns,
            "VOICE_METRICS_NAMESPACE": metrics_namespace,
            "VOICE_TOPIC_ARNS": json.dumps({name: t.topic_arn for name, t in sorted(topics.items())}),
        }
        if compiled.deployment_application and compiled.deployment_group:
            environment["VOICE_DEPLOYMENT_APPLICATION"] = compiled.deployment_application
            environment["VOICE_DEPLOYMENT_GROUP"] = compiled.deployment_group
        self.handler = ProjectFunction(
            self, "Handler", handler=REVERT_HANDLER, code=code, layer=layer, function_name=function_name,
            description=f"voice-rollout revert for {ns}: alarm -> overrides, notify, stop canary",
            environment=environment, log_retention_days=log_retention_days, timeout_seconds=30,
            reserved_concurrency=reserved_concurrency,
            unreserved_because="InfraSettings.revert_reserved_concurrency is None: the account cannot spare a "
                               "reservation (AWS keeps at least 100 executions unreserved)",
            no_dlq_because="CloudWatch alarm actions invoke it asynchronously, and a revert that fails its retries "
                           "goes to the on-failure destination (the alarms' first topic), which a person reads; a "
                           "queue nobody watches would hide it",
        )
        self.function = self.handler.function
        # A revert that still fails after the retries must reach a person, not vanish with the event.
        failed_to = failure_topic(alarms)
        # L1 on purpose: the L2 destination re-grants publish with kms:GenerateDataKey* (a wildcard action); the
        # role's own sns:Publish and kms:GenerateDataKey statements below already cover this topic.
        invoke_config = lambda_.CfnEventInvokeConfig(
            self, "AsyncInvoke", function_name=self.function.function_name, qualifier="$LATEST",
            maximum_retry_attempts=REVERT_RETRIES, maximum_event_age_in_seconds=REVERT_MAX_AGE,
            destination_config=lambda_.CfnEventInvokeConfig.DestinationConfigProperty(
                on_failure=lambda_.CfnEventInvokeConfig.OnFailureProperty(
                    destination=topics[failed_to].topic_arn)) if failed_to else None)
        overrides = arns.parameter(f"{ns}/overrides/*")
        self.handler.allow(["ssm:PutParameter"], [overrides])
        self.handler.allow(["ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"],
                           arns.parameter_tree(ns))
        if topics:
            self.handler.allow(["sns:Publish"], [t.topic_arn for _, t in sorted(topics.items())])
        if topic_key_arn:
            self.handler.allow(["kms:GenerateDataKey", "kms:Decrypt"], [topic_key_arn])
        if compiled.deployment_application and compiled.deployment_group:
            self.handler.allow(
                ["codedeploy:StopDeployment", "codedeploy:ListDeployments", "codedeploy:GetDeployment"],
                [arns.deployment_group(compiled.deployment_application, compiled.deployment_group)])
        policy = self.handler.role.node.find_child("DefaultPolicy")
        # Lambda checks the role may publish to the failure destination when the config is created.
        invoke_config.node.add_dependency(policy)
        acknowledge(policy, f"AwsSolutions-IAM5[Resource::{NAG_ARNS.parameter(f'{ns}/overrides/*')}]",
                    "one override parameter per variant, named by the registry; `voicectl apply` may add an "
                    "alarm reverting another variant without a redeploy, and the revert must not fail then")
        for resource in NAG_ARNS.parameter_tree(ns)[1:]:
            acknowledge(policy, f"AwsSolutions-IAM5[Resource::{resource}]",
                        "the revert handler reads the namespace's live state (registry, phase, overrides) "
                        "in one GetParametersByPath batch; nothing outside the namespace")

