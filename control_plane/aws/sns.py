"""SNS adapter for plan/apply: read topics by ARN, write or delete one topic. Takes a boto3 SNS client."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from control_plane.aws.session import aws_call, error_code, translate
from control_plane.diff import ObservedTopic

NOT_FOUND = {"NotFound", "NotFoundException"}


def topic_name_from_arn(arn: str) -> str:
    return arn.rsplit(":", 1)[1]


def _tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def read_topics(client: Any, arns: Iterable[str]) -> dict[str, ObservedTopic]:
    """The topics among `arns` that exist (by name), with display name, subscriptions and tags."""
    out: dict[str, ObservedTopic] = {}
    for arn in sorted(set(arns)):
        try:
            attrs = client.get_topic_attributes(TopicArn=arn)["Attributes"]
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                continue
            raise translate(exc, "sns:GetTopicAttributes") from exc
        subscriptions: dict[str, str] = {}
        with aws_call("sns:ListSubscriptionsByTopic"):
            for page in client.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=arn):
                subscriptions.update({s["Endpoint"]: s["SubscriptionArn"] for s in page.get("Subscriptions", [])})
        with aws_call("sns:ListTagsForResource"):
            tags = client.list_tags_for_resource(ResourceArn=arn).get("Tags", [])
        name = topic_name_from_arn(arn)
        out[name] = ObservedTopic(name, arn, attrs.get("DisplayName", ""), subscriptions,
                                  {t["Key"]: t["Value"] for t in tags})
    return out


def protocol_of(endpoint: str) -> str:
    """The SNS protocol of a subscription endpoint as the registry writes it (e-mail address or URL or ARN)."""
    if endpoint.startswith("https://"):
        return "https"
    if endpoint.startswith("http://"):
        return "http"
    if endpoint.startswith("arn:") and ":sqs:" in endpoint:
        return "sqs"
    if endpoint.startswith("arn:") and ":lambda:" in endpoint:
        return "lambda"
    return "email"


def create_topic(client: Any, name: str, display_name: str, tags: Mapping[str, str]) -> str:
    """CreateTopic is idempotent for the same name and attributes; returns the topic ARN."""
    response = client.create_topic(Name=name, Attributes={"DisplayName": display_name}, Tags=_tag_list(tags))
    return str(response["TopicArn"])


def set_display_name(client: Any, arn: str, display_name: str) -> None:
    client.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue=display_name)


def subscribe(client: Any, arn: str, endpoint: str) -> None:
    client.subscribe(TopicArn=arn, Protocol=protocol_of(endpoint), Endpoint=endpoint)


def unsubscribe(client: Any, subscription_arn: str) -> None:
    client.unsubscribe(SubscriptionArn=subscription_arn)


def tag_topic(client: Any, arn: str, tags: Mapping[str, str]) -> None:
    client.tag_resource(ResourceArn=arn, Tags=_tag_list(tags))


def delete_topic(client: Any, arn: str) -> None:
    client.delete_topic(TopicArn=arn)
