"""Control-plane stack: the Plan's parameters, topics, alarms and the revert Lambda they invoke, and a dashboard."""

from __future__ import annotations

import re
from typing import Any

from aws_cdk import Aws, Stack, Tags
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from control_plane.compiler import AwsTarget, Plan
from infra.arns import ArnScope
from infra.components.alarms import PlanAlarms
from infra.components.dashboard import VoiceDashboard
from infra.components.parameters import PlanParameters
from infra.components.project_function import project_code
from infra.components.revert_function import RevertFunction
from infra.components.topics import NotificationTopics
from infra.settings import InfraSettings


def dashboard_name(namespace: str) -> str:
    """Dashboard names allow letters, digits, '-' and '_': the namespace with its slashes turned into dashes."""
    return "voice-rollout" + re.sub(r"[^A-Za-z0-9_-]", "-", namespace)


class ControlPlaneStack(Stack):
    """Everything `voicectl apply` would write, plus the revert function, deployed by CloudFormation."""

    def __init__(self, scope: Construct, construct_id: str, *, plan: Plan, target: AwsTarget,
                 metrics_namespace: str, settings: InfraSettings, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        arns = ArnScope(Aws.PARTITION, Aws.REGION, Aws.ACCOUNT_ID)
        for key, value in plan.tags.items():
            Tags.of(self).add(key, value)
        layer = lambda_.LayerVersion.from_layer_version_arn(
            self, "Powertools", settings.powertools_layer_arn(Aws.PARTITION, Aws.REGION))

        self.parameters = PlanParameters(self, "Parameters", specs=plan.parameters, tags=plan.tags)
        self.topics = NotificationTopics(self, "Topics", specs=plan.topics)
        self.revert = RevertFunction(
            self, "Revert", compiled=plan.compiled, metrics_namespace=metrics_namespace,
            function_name=target.revert_function_name, topics=self.topics.topics,
            topic_key_arn=self.topics.key.key_arn if self.topics.key else None, alarms=plan.alarms, arns=arns,
            code=project_code(settings), layer=layer, log_retention_days=settings.log_retention_days,
            reserved_concurrency=settings.revert_reserved_concurrency)
        # The compiler wrote action ARNs for an offline target; map each to the resource deployed here.
        deployed_arn = {target.topic_arn(name): topic.topic_arn for name, topic in self.topics.topics.items()}
        deployed_arn[target.revert_function_arn] = self.revert.function.function_arn
        self.alarms = PlanAlarms(
            self, "Alarms", specs=plan.alarms, deployed_arn=deployed_arn, revert_function=self.revert.function,
            revert_placeholder_arn=target.revert_function_arn, arns=arns)
        self.dashboard = VoiceDashboard(
            self, "Dashboard", name=dashboard_name(plan.namespace), metrics_namespace=metrics_namespace,
            variants=sorted(plan.compiled.variants), alarm_arns=[a.attr_arn for a in self.alarms.alarms.values()])
