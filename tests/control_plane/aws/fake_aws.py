"""A small in-memory fake of the write calls apply makes, holding state as diff's Observed* records.

It behaves like AWS where apply depends on it: PutMetricAlarm replaces the alarm and applies Tags only on
create, PutParameter refuses Tags with Overwrite, CreateTopic returns the deterministic ARN. Reads are not
faked: the property tests hand `observed()` straight to diff.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from control_plane.diff import ObservedAlarm, ObservedParameter, ObservedState, ObservedTopic

ACCOUNT_ARN = "arn:aws:{service}:us-east-1:123456789012:{rest}"


def _tags(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}


class FakeAws:
    """State plus one fake client per service; `writes` counts every call made."""

    def __init__(self, state: ObservedState) -> None:
        self.parameters = dict(state.parameters)
        self.alarms = dict(state.alarms)
        self.topics = dict(state.topics)
        self.writes: list[str] = []
        self._sub = 0

    def client(self, service: str) -> Any:
        return self

    def observed(self) -> ObservedState:
        return ObservedState(dict(self.parameters), dict(self.alarms), dict(self.topics))

    # --- ssm
    def put_parameter(self, *, Name: str, Value: str, Type: str, Tier: str, Description: str,
                      Overwrite: bool = False, Tags: list[dict[str, str]] | None = None) -> None:
        self.writes.append("PutParameter")
        assert not (Overwrite and Tags), "SSM refuses Tags with Overwrite"
        old = self.parameters.get(Name)
        assert old is None or Overwrite, "SSM refuses to overwrite without Overwrite"
        assert not (old is not None and old.tier == "Advanced" and Tier == "Standard"), "no tier downgrade"
        tags = dict(old.tags) if old else _tags(Tags)
        self.parameters[Name] = ObservedParameter(Name, Value, Tier, Description, Type, tags)

    def add_tags_to_resource(self, *, ResourceType: str, ResourceId: str, Tags: list[dict[str, str]]) -> None:
        self.writes.append("AddTagsToResource")
        old = self.parameters[ResourceId]
        self.parameters[ResourceId] = replace(old, tags={**old.tags, **_tags(Tags)})

    # --- cloudwatch
    def put_metric_alarm(self, **args: Any) -> None:
        self.writes.append("PutMetricAlarm")
        name = args["AlarmName"]
        tags = args.pop("Tags", None)
        old = self.alarms.get(name)
        arn = ACCOUNT_ARN.format(service="cloudwatch", rest=f"alarm:{name}")
        self.alarms[name] = ObservedAlarm(name, {**args, "AlarmArn": arn}, dict(old.tags) if old else _tags(tags))

    def delete_alarms(self, *, AlarmNames: list[str]) -> None:
        self.writes.append("DeleteAlarms")
        for name in AlarmNames:
            self.alarms.pop(name, None)

    def tag_resource(self, *, Tags: list[dict[str, str]], ResourceARN: str | None = None,
                     ResourceArn: str | None = None) -> None:
        self.writes.append("TagResource")
        if ResourceARN is not None:  # CloudWatch spells it ARN, SNS Arn
            name = ResourceARN.split(":alarm:", 1)[1]
            self.alarms[name] = replace(self.alarms[name], tags={**self.alarms[name].tags, **_tags(Tags)})
        else:
            assert ResourceArn is not None
            name = ResourceArn.rsplit(":", 1)[1]
            self.topics[name] = replace(self.topics[name], tags={**self.topics[name].tags, **_tags(Tags)})

    # --- sns
    def create_topic(self, *, Name: str, Attributes: dict[str, str], Tags: list[dict[str, str]]) -> dict[str, str]:
        self.writes.append("CreateTopic")
        arn = ACCOUNT_ARN.format(service="sns", rest=Name)
        if Name not in self.topics:
            self.topics[Name] = ObservedTopic(Name, arn, Attributes.get("DisplayName", ""), {}, _tags(Tags))
        return {"TopicArn": arn}

    def set_topic_attributes(self, *, TopicArn: str, AttributeName: str, AttributeValue: str) -> None:
        self.writes.append("SetTopicAttributes")
        name = TopicArn.rsplit(":", 1)[1]
        self.topics[name] = replace(self.topics[name], display_name=AttributeValue)

    def subscribe(self, *, TopicArn: str, Protocol: str, Endpoint: str) -> None:
        self.writes.append("Subscribe")
        name = TopicArn.rsplit(":", 1)[1]
        self._sub += 1
        subs = {**self.topics[name].subscriptions, Endpoint: f"{TopicArn}:sub{self._sub}"}
        self.topics[name] = replace(self.topics[name], subscriptions=subs)

    def unsubscribe(self, *, SubscriptionArn: str) -> None:
        self.writes.append("Unsubscribe")
        for name, topic in self.topics.items():
            subs = {e: a for e, a in topic.subscriptions.items() if a != SubscriptionArn}
            self.topics[name] = replace(topic, subscriptions=subs)

    def delete_topic(self, *, TopicArn: str) -> None:
        self.writes.append("DeleteTopic")
        self.topics.pop(TopicArn.rsplit(":", 1)[1], None)
