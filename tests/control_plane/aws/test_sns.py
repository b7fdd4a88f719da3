"""SNS adapter and the tagging lookup: topics read by ARN (absent = not there), subscriptions, tags."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from control_plane.aws import sns
from control_plane.aws.tagging import tagged_arns


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sns", region_name="us-east-1")


ARN = "arn:aws:sns:us-east-1:123456789012:t1"


@pytest.mark.parametrize(("endpoint", "protocol"), [
    ("oncall@example.com", "email"), ("https://hook.example/x", "https"), ("http://hook.example", "http"),
    ("arn:aws:sqs:us-east-1:1:q", "sqs"), ("arn:aws:lambda:us-east-1:1:function:f", "lambda"),
])
def test_protocol_of(endpoint: str, protocol: str) -> None:
    assert sns.protocol_of(endpoint) == protocol


def test_absent_topic_reads_as_nothing(client: Any) -> None:
    assert sns.read_topics(client, [ARN]) == {}


def test_create_subscribe_tag_read_delete(client: Any) -> None:
    assert sns.create_topic(client, "t1", "Topic one", {"owner": "/ns"}) == ARN
    sns.subscribe(client, ARN, "https://hook.example/x")
    (seen,) = sns.read_topics(client, [ARN]).values()
    assert (seen.name, seen.arn, seen.display_name, dict(seen.tags)) == ("t1", ARN, "Topic one", {"owner": "/ns"})
    assert list(seen.subscriptions) == ["https://hook.example/x"]
    sns.set_display_name(client, ARN, "Renamed")
    sns.unsubscribe(client, seen.subscriptions["https://hook.example/x"])
    sns.tag_topic(client, ARN, {"other": "x"})
    (seen,) = sns.read_topics(client, [ARN]).values()
    assert (seen.display_name, dict(seen.subscriptions), dict(seen.tags)) == (
        "Renamed", {}, {"owner": "/ns", "other": "x"})
    sns.delete_topic(client, ARN)
    assert sns.read_topics(client, [ARN]) == {}


def test_tagged_arns_finds_only_the_namespace_resources(client: Any) -> None:
    sns.create_topic(client, "mine", "m", {"voice-rollout:namespace": "/ns"})
    sns.create_topic(client, "theirs", "t", {"voice-rollout:namespace": "/other"})
    client.create_topic(Name="untagged")
    tagging = boto3.client("resourcegroupstaggingapi", region_name="us-east-1")
    assert tagged_arns(tagging, "sns:topic", "voice-rollout:namespace", "/ns") == [
        "arn:aws:sns:us-east-1:123456789012:mine"]
