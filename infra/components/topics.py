"""The registry's SNS topics: encrypted with a customer-managed key and refusing publishers without TLS."""

from __future__ import annotations

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from constructs import Construct

from control_plane.compiler import TopicSpec


def _subscription(endpoint: str) -> sns.ITopicSubscription:
    """E-mail addresses and HTTPS endpoints, as the registry's `subscriptions` allow."""
    if endpoint.startswith("https://"):
        return subs.UrlSubscription(endpoint, protocol=sns.SubscriptionProtocol.HTTPS)
    return subs.EmailSubscription(endpoint)


class NotificationTopics(Construct):
    """One topic per TopicSpec of the Plan, named as the Plan names it (the CLI's apply uses the same names)."""

    def __init__(self, scope: Construct, construct_id: str, *, specs: tuple[TopicSpec, ...]) -> None:
        super().__init__(scope, construct_id)
        self.topics: dict[str, sns.Topic] = {}
        self.key: kms.Key | None = None
        if not specs:
            return
        self.key = kms.Key(self, "Key", enable_key_rotation=True,
                           description="voice-rollout SNS topics (alarm notifications)")
        # CloudWatch publishes alarm notifications itself, so it must be able to use the topics' key; only on
        # behalf of this account's alarms (aws:SourceAccount, the confused-deputy guard AWS documents for service
        # principals in key policies).
        self.key.add_to_resource_policy(iam.PolicyStatement(
            principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
            actions=["kms:Decrypt", "kms:GenerateDataKey"], resources=["*"],
            conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}))
        for spec in specs:
            topic = sns.Topic(self, spec.name, topic_name=spec.name, display_name=spec.display_name,
                              master_key=self.key, enforce_ssl=True)
            for endpoint in spec.subscriptions:
                topic.add_subscription(_subscription(endpoint))
            self.topics[spec.name] = topic
