"""The imperative shell of plan/apply: read the observed state, turn changes into write calls, run them in order.

Deciding *what* to write is pure (control_plane.diff, and `steps_for` here, which maps one change to the exact
write calls it needs). Running them is a loop that stops at the first failure and says precisely which calls
went through and which did not, so a rerun of apply converges from any point.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

from control_plane.aws import cloudwatch, sns, ssm
from control_plane.aws.session import aws_call
from control_plane.aws.tagging import tagged_arns
from control_plane.compiler import OWNER_TAG, AlarmSpec, AwsTarget, ParameterSpec, Plan, TopicSpec
from control_plane.diff import (
    Action,
    Change,
    Kind,
    ObservedAlarm,
    ObservedParameter,
    ObservedState,
    ObservedTopic,
    diff,
    effective_tier,
    subscriptions_to_add,
    subscriptions_to_remove,
)
from registry.errors import AwsError, PartialApply


class ClientSource(Protocol):
    """Anything that hands out boto3 clients by service name (control_plane.aws.session.Clients)."""

    def client(self, service: str) -> Any: ...


@dataclass(frozen=True)
class Step:
    """One AWS write call. `action` is the IAM action it needs (and what an access-denied error names)."""

    service: str
    action: str
    description: str
    run: Callable[[Any], object] = field(compare=False, repr=False)


@dataclass
class ApplyReport:
    applied: list[str] = field(default_factory=list)

    @property
    def write_calls(self) -> int:
        return len(self.applied)


def resolve_target(clients: ClientSource) -> AwsTarget:
    """The caller's account, partition and region, so the ARNs apply writes are the real ones."""
    with aws_call("sts:GetCallerIdentity"):
        identity = clients.client("sts").get_caller_identity()
    region = clients.client("cloudwatch").meta.region_name
    partition = str(identity["Arn"]).split(":")[1]
    return AwsTarget(region=region, account_id=str(identity["Account"]), partition=partition)


def observe(clients: ClientSource, plan: Plan, target: AwsTarget) -> ObservedState:
    """Read what exists of the resources the plan names, plus every alarm and topic tagged as this namespace's
    (those are the only ones apply may delete)."""
    tagging = clients.client("resourcegroupstaggingapi")
    parameters = ssm.read_parameters(clients.client("ssm"), [p.name for p in plan.parameters])
    tagged_alarms = tagged_arns(tagging, "cloudwatch:alarm", OWNER_TAG, plan.namespace)
    alarms = cloudwatch.read_alarms(clients.client("cloudwatch"), [a.name for a in plan.alarms]
                                    + [cloudwatch.alarm_name_from_arn(arn) for arn in tagged_alarms])
    # "sns" rather than "sns:topic": topic ARNs carry no resource-type segment. GetResources may list deleted
    # resources for a while; read_topics and read_alarms skip what no longer exists.
    tagged_topics = [arn for arn in tagged_arns(tagging, "sns", OWNER_TAG, plan.namespace) if arn.count(":") == 5]
    topics = sns.read_topics(clients.client("sns"), [target.topic_arn(t.name) for t in plan.topics] + tagged_topics)
    return ObservedState(parameters=parameters, alarms=alarms, topics=topics)


def _tags_changed(change: Change) -> bool:
    return any(f.field.startswith("tags.") for f in change.fields)


def _content_changed(change: Change) -> bool:
    return any(not f.field.startswith("tags.") for f in change.fields)


def _topic_steps(change: Change, target: AwsTarget, tags: Mapping[str, str]) -> list[Step]:
    name = change.name
    if change.action is Action.DELETE:
        assert isinstance(change.observed, ObservedTopic)
        return [Step("sns", "sns:DeleteTopic", f"delete topic {name}",
                     partial(sns.delete_topic, arn=change.observed.arn))]
    spec = change.desired
    assert isinstance(spec, TopicSpec)
    if change.action is Action.CREATE:
        arn = target.topic_arn(name)
        steps = [Step("sns", "sns:CreateTopic", f"create topic {name}",
                      partial(sns.create_topic, name=name, display_name=spec.display_name, tags=tags))]
        return steps + [Step("sns", "sns:Subscribe", f"subscribe {endpoint} to topic {name}",
                             partial(sns.subscribe, arn=arn, endpoint=endpoint))
                        for endpoint in sorted(spec.subscriptions)]
    seen = change.observed
    assert isinstance(seen, ObservedTopic)
    steps = []
    if seen.display_name != spec.display_name:
        steps.append(Step("sns", "sns:SetTopicAttributes", f"set display name of topic {name}",
                          partial(sns.set_display_name, arn=seen.arn, display_name=spec.display_name)))
    steps += [Step("sns", "sns:Subscribe", f"subscribe {endpoint} to topic {name}",
                   partial(sns.subscribe, arn=seen.arn, endpoint=endpoint))
              for endpoint in subscriptions_to_add(spec, seen)]
    steps += [Step("sns", "sns:Unsubscribe", f"unsubscribe {endpoint} from topic {name}",
                   partial(sns.unsubscribe, subscription_arn=seen.subscriptions[endpoint]))
              for endpoint in subscriptions_to_remove(spec, seen)]
    if _tags_changed(change):
        steps.append(Step("sns", "sns:TagResource", f"tag topic {name}",
                          partial(sns.tag_topic, arn=seen.arn, tags=tags)))
    return steps


def _alarm_steps(change: Change, tags: Mapping[str, str]) -> list[Step]:
    name = change.name
    if change.action is Action.DELETE:
        return [Step("cloudwatch", "cloudwatch:DeleteAlarms", f"delete alarm {name}",
                     partial(cloudwatch.delete_alarm, name=name))]
    spec = change.desired
    assert isinstance(spec, AlarmSpec)
    if change.action is Action.CREATE:
        return [Step("cloudwatch", "cloudwatch:PutMetricAlarm", f"create alarm {name}",
                     partial(cloudwatch.put_alarm, args=spec.args, tags=tags))]
    seen = change.observed
    assert isinstance(seen, ObservedAlarm)
    steps = []
    if _content_changed(change):
        steps.append(Step("cloudwatch", "cloudwatch:PutMetricAlarm", f"update alarm {name}",
                          partial(cloudwatch.put_alarm, args=spec.args, tags=None)))
    if _tags_changed(change):
        steps.append(Step("cloudwatch", "cloudwatch:TagResource", f"tag alarm {name}",
                          partial(cloudwatch.tag_alarm, arn=seen.args["AlarmArn"], tags=tags)))
    return steps


def _parameter_steps(change: Change, tags: Mapping[str, str]) -> list[Step]:
    spec = change.desired
    assert isinstance(spec, ParameterSpec), "apply never deletes parameters"
    if change.action is Action.CREATE:
        return [Step("ssm", "ssm:PutParameter", f"create parameter {spec.name}",
                     partial(ssm.put_parameter, spec=spec, tier=spec.tier, tags=tags))]
    seen = change.observed
    assert isinstance(seen, ObservedParameter)
    steps = []
    if _content_changed(change):
        steps.append(Step("ssm", "ssm:PutParameter", f"update parameter {spec.name}",
                          partial(ssm.put_parameter, spec=spec, tier=effective_tier(spec.tier, seen.tier), tags=None)))
    if _tags_changed(change):
        steps.append(Step("ssm", "ssm:AddTagsToResource", f"tag parameter {spec.name}",
                          partial(ssm.add_tags, name=spec.name, tags=tags)))
    return steps


def steps_for(changes: Sequence[Change], target: AwsTarget, tags: Mapping[str, str]) -> list[Step]:
    """The write calls for `changes`, in the changes' order (pure: nothing runs until a Step is called)."""
    steps: list[Step] = []
    for change in changes:
        if change.kind is Kind.TOPIC:
            steps += _topic_steps(change, target, tags)
        elif change.kind is Kind.ALARM:
            steps += _alarm_steps(change, tags)
        else:
            steps += _parameter_steps(change, tags)
    return steps


Pending = Callable[[], Sequence[str]]


def still_pending(clients: ClientSource, plan: Plan, target: AwsTarget) -> Pending:
    """Re-observe AWS and return the descriptions of the steps the plan still needs (what did not land)."""
    def pending() -> list[str]:
        return [s.description for s in steps_for(diff(plan, observe(clients, plan, target)), target, plan.tags)]
    return pending


def _landed(step: Step, pending: Pending | None) -> bool | None:
    """Whether a call that reported an error did land (a timeout or a lost response after AWS acted): True
    when re-observing shows the step no longer needed, None when that cannot be told."""
    if pending is None:
        return None
    try:
        return step.description not in pending()
    except Exception:  # AWS still failing: say it is unknown rather than guess
        return None


def execute(clients: ClientSource, steps: Sequence[Step], *, pending: Pending | None = None) -> ApplyReport:
    """Run the steps in order. On the first failed call, stop and raise PartialApply naming exactly what was
    written: with `pending` (still_pending), AWS is re-observed to tell whether the failed call itself landed.
    Every step is safe to repeat, so running apply again converges."""
    report = ApplyReport()
    for i, step in enumerate(steps):
        try:
            with aws_call(step.action):
                step.run(clients.client(step.service))
        except AwsError as exc:
            landed = _landed(step, pending)
            applied = report.applied + ([step.description] if landed else [])
            rest = [s.description for s in steps[i + (1 if landed else 0):]]
            uncertain = [step.description] if landed is None else []
            if landed:
                done = "; that call did land (AWS acted, its response was lost)"
            elif landed is False and not report.applied:
                done = "; nothing was applied"
            else:
                done = "; whether that call landed is unknown" if landed is None else ""
            raise PartialApply(f"apply stopped at '{step.description}': {exc.what}{done}", failed=step.description,
                               applied=applied, pending=[d for d in rest if d not in uncertain],
                               cause=exc, uncertain=uncertain) from exc
        report.applied.append(step.description)
    return report
