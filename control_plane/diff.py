"""Desired Plan vs observed AWS state -> the ordered changes `voicectl apply` makes (pure, no boto3).

The observed side is plain data read by the adapters in control_plane/aws/. Values are normalised the way the
APIs round-trip them (dimension and action order, float thresholds, defaults AWS fills in) so that a state just
written by apply diffs clean.

Ownership is decided here, once: a resource is apply's when it carries OWNER_TAG = the namespace. Apply deletes
only owned alarms and topics that left the file; it never deletes an untagged resource and never reads or
writes the parameters other writers own (rollout/phase, overrides/*, variant_overrides, approvals/*,
deprecations/*, and the revert handler's ledger reverts/*).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from control_plane.compiler import OWNER_TAG, AlarmSpec, ParameterSpec, Plan, TopicSpec
from registry.errors import InvalidInput

# Relative names under the namespace that other writers own (DESIGN.md live-state table).
PROTECTED_PARAMETERS = ("rollout/phase", "variant_overrides")
PROTECTED_PREFIXES = ("overrides/", "approvals/", "deprecations/", "rollout/", "reverts/")
MAX_VALUE_PATHS = 25  # beyond this many changed JSON paths the rest is summarised, to keep the plan readable
PENDING_SUBSCRIPTION = "PendingConfirmation"


class OwnershipConflict(InvalidInput):
    """Resources the file names are already owned by another registry's namespace (their `tag`): apply will not
    take them."""

    def __init__(self, resources: Sequence[str], *, tag: str) -> None:
        super().__init__(f"{len(resources)} resource(s) in this file belong to another registry: "
                         f"{', '.join(resources)}", value=list(resources))
        self.resources = list(resources)
        self.tag = tag


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


class Kind(StrEnum):
    TOPIC = "topic"
    ALARM = "alarm"
    PARAMETER = "parameter"


@dataclass(frozen=True)
class ObservedParameter:
    name: str
    value: str
    tier: str = "Standard"
    description: str = ""
    type: str = "String"
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ObservedAlarm:
    name: str
    args: Mapping[str, Any]  # as DescribeAlarms returns it; normalised before comparing
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ObservedTopic:
    name: str
    arn: str
    display_name: str = ""
    subscriptions: Mapping[str, str] = field(default_factory=dict)  # endpoint -> subscription ARN (or pending)
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ObservedState:
    """What the adapters found: only the resources apply may own or the plan names."""

    parameters: Mapping[str, ObservedParameter] = field(default_factory=dict)
    alarms: Mapping[str, ObservedAlarm] = field(default_factory=dict)
    topics: Mapping[str, ObservedTopic] = field(default_factory=dict)


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: Any
    new: Any


@dataclass(frozen=True)
class Change:
    """One resource to create, update or delete, with the fields that differ.

    `desired` is the spec apply writes (None for a delete); `observed` what is there now (None for a create).
    """

    kind: Kind
    action: Action
    name: str
    fields: tuple[FieldChange, ...] = ()
    desired: ParameterSpec | AlarmSpec | TopicSpec | None = None
    observed: ObservedParameter | ObservedAlarm | ObservedTopic | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action.value, "kind": self.kind.value, "name": self.name,
                "fields": [{"field": f.field, "old": f.old, "new": f.new} for f in self.fields]}


def is_protected_parameter(namespace: str, name: str) -> bool:
    """True for a parameter another writer owns (phase, overrides, runbook map, approvals, deprecations)."""
    prefix = namespace.rstrip("/") + "/"
    if not name.startswith(prefix):
        return True  # outside the namespace: never apply's
    rel = name[len(prefix):]
    return rel in PROTECTED_PARAMETERS or rel.startswith(PROTECTED_PREFIXES)


def owned(tags: Mapping[str, str], namespace: str) -> bool:
    return tags.get(OWNER_TAG) == namespace


# --- alarms -------------------------------------------------------------------------------------------------

_ALARM_DEFAULTS: dict[str, Any] = {
    "AlarmDescription": "", "ActionsEnabled": True, "AlarmActions": [], "OKActions": [],
    "InsufficientDataActions": [], "Dimensions": [], "Statistic": None, "ExtendedStatistic": None,
    "Unit": None, "TreatMissingData": "missing", "DatapointsToAlarm": None, "EvaluateLowSampleCountPercentile": None,
}
ALARM_FIELDS = ("AlarmDescription", "ActionsEnabled", "AlarmActions", "OKActions", "InsufficientDataActions",
                "Namespace", "MetricName", "Dimensions", "Statistic", "ExtendedStatistic", "Unit", "Period",
                "EvaluationPeriods", "DatapointsToAlarm", "Threshold", "ComparisonOperator", "TreatMissingData",
                "EvaluateLowSampleCountPercentile")


def normalise_alarm(args: Mapping[str, Any]) -> dict[str, Any]:
    """The comparable form of an alarm: PutMetricAlarm args and DescribeAlarms output map to the same dict.

    CloudWatch may return dimensions and actions in another order, returns Threshold as a float, and omits
    DatapointsToAlarm when it equals EvaluationPeriods; none of that is a change.
    """
    out: dict[str, Any] = {}
    for key in ALARM_FIELDS:
        value = args.get(key, _ALARM_DEFAULTS.get(key))
        if key == "Dimensions":
            value = sorted(f"{d['Name']}={d['Value']}" for d in value or [])
        elif key in ("AlarmActions", "OKActions", "InsufficientDataActions"):
            value = sorted(value or [])
        elif key == "Threshold" and value is not None:
            value = float(value)
        elif key in ("Period", "EvaluationPeriods") and value is not None:
            value = int(value)
        elif key == "EvaluateLowSampleCountPercentile":
            value = value or None  # DescribeAlarms may return "" for unset
        out[key] = value
    if out["DatapointsToAlarm"] is None:
        out["DatapointsToAlarm"] = out["EvaluationPeriods"]
    return out


def _alarm_change(spec: AlarmSpec, seen: ObservedAlarm | None, plan: Plan) -> Change | None:
    desired = normalise_alarm(spec.args)
    if seen is None:
        created = tuple(FieldChange(k, None, v) for k, v in desired.items() if v not in (None, [], ""))
        return Change(Kind.ALARM, Action.CREATE, spec.name, created, spec, None)
    current = normalise_alarm(seen.args)
    fields = [FieldChange(k, current[k], desired[k]) for k in ALARM_FIELDS if current[k] != desired[k]]
    fields += _tag_changes(seen.tags, plan.tags)
    return Change(Kind.ALARM, Action.UPDATE, spec.name, tuple(fields), spec, seen) if fields else None


# --- topics -------------------------------------------------------------------------------------------------

def _topic_change(spec: TopicSpec, seen: ObservedTopic | None, plan: Plan) -> Change | None:
    if seen is None:
        fields: list[FieldChange] = [FieldChange("display_name", None, spec.display_name)]
        if spec.subscriptions:
            fields.append(FieldChange("subscriptions", None, sorted(spec.subscriptions)))
        return Change(Kind.TOPIC, Action.CREATE, spec.name, tuple(fields), spec, None)
    fields = []
    if seen.display_name != spec.display_name:
        fields.append(FieldChange("display_name", seen.display_name, spec.display_name))
    if subscriptions_to_add(spec, seen) or subscriptions_to_remove(spec, seen):
        fields.append(FieldChange("subscriptions", sorted(seen.subscriptions), sorted(spec.subscriptions)))
    fields += _tag_changes(seen.tags, plan.tags)
    return Change(Kind.TOPIC, Action.UPDATE, spec.name, tuple(fields), spec, seen) if fields else None


def subscriptions_to_add(spec: TopicSpec, seen: ObservedTopic) -> list[str]:
    return sorted(set(spec.subscriptions) - set(seen.subscriptions))


def subscriptions_to_remove(spec: TopicSpec, seen: ObservedTopic) -> list[str]:
    """Confirmed subscriptions that left the file. A pending one cannot be removed (SNS expires it), so it is
    not a change: otherwise the plan would never converge."""
    return sorted(e for e, arn in seen.subscriptions.items()
                  if e not in spec.subscriptions and arn != PENDING_SUBSCRIPTION)


# --- parameters ---------------------------------------------------------------------------------------------

def effective_tier(desired: str, observed: str | None) -> str:
    """SSM never moves an Advanced parameter back to Standard, so once Advanced it stays Advanced."""
    return "Advanced" if "Advanced" in (desired, observed) else desired


def _value_changes(old: str, new: str) -> list[FieldChange]:
    """Changed JSON paths of the value (`value.phases[2].weights.sonic-unified: 5 -> 10`), or the whole value
    when either side is not JSON."""
    try:
        old_doc, new_doc = json.loads(old), json.loads(new)
    except ValueError:
        return [FieldChange("value", old, new)]
    changes: list[FieldChange] = []
    _json_paths(old_doc, new_doc, "value", changes)
    if len(changes) > MAX_VALUE_PATHS:
        rest = len(changes) - MAX_VALUE_PATHS
        changes = [*changes[:MAX_VALUE_PATHS], FieldChange(f"value (+{rest} more paths)", "...", "...")]
    return changes or [FieldChange("value", old, new)]  # same JSON, different bytes: still a write


def _json_paths(old: Any, new: Any, path: str, out: list[FieldChange]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            _json_paths(old.get(key), new.get(key), f"{path}.{key}", out)
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            _json_paths(a, b, f"{path}[{i}]", out)
    elif old != new:
        out.append(FieldChange(path, old, new))


def _parameter_change(spec: ParameterSpec, seen: ObservedParameter | None, plan: Plan) -> Change | None:
    if seen is None:
        created = (FieldChange("tier", None, spec.tier), FieldChange("bytes", None, len(spec.value.encode())))
        return Change(Kind.PARAMETER, Action.CREATE, spec.name, created, spec, None)
    fields: list[FieldChange] = _value_changes(seen.value, spec.value) if seen.value != spec.value else []
    tier = effective_tier(spec.tier, seen.tier)
    if tier != seen.tier:
        fields.append(FieldChange("tier", seen.tier, tier))
    if seen.description != spec.description:
        fields.append(FieldChange("description", seen.description, spec.description))
    if seen.type != spec.type:
        fields.append(FieldChange("type", seen.type, spec.type))
    fields += _tag_changes(seen.tags, plan.tags)
    return Change(Kind.PARAMETER, Action.UPDATE, spec.name, tuple(fields), spec, seen) if fields else None


def _tag_changes(seen: Mapping[str, str], desired: Mapping[str, str]) -> list[FieldChange]:
    """Only the tags apply sets are compared; tags others added are left alone."""
    return [FieldChange(f"tags.{k}", seen.get(k), v) for k, v in sorted(desired.items()) if seen.get(k) != v]


# --- the plan -----------------------------------------------------------------------------------------------

def diff(plan: Plan, observed: ObservedState) -> list[Change]:
    """The changes that take `observed` to `plan`, in the order apply must write them.

    Topics first (alarms name their ARNs), then the alarms leaving the file, then the single registry parameter
    (one atomic put, so a runtime reads either the old registry or the new one), then the alarms created or
    updated, deleted topics last. The order leaves no blind window: the revert handler knows an alarm only from
    the registry parameter, and an alarm that exists while the parameter does not name it would fire into a
    handler that rejects it (CloudWatch never fires it again while it stays in ALARM). So an alarm is deleted
    before the parameter stops naming it and created only after the parameter names it, and an apply stopped
    anywhere leaves every existing alarm known. Within a group, resources are sorted by name, so the same inputs
    give the same list.
    """
    for spec in plan.parameters:
        if is_protected_parameter(plan.namespace, spec.name):
            raise ValueError(f"plan writes {spec.name}, which apply must never touch")
    _refuse_foreign(plan, observed)
    changes: list[Change] = []
    for topic in sorted(plan.topics, key=lambda t: t.name):
        if (c := _topic_change(topic, observed.topics.get(topic.name), plan)) is not None:
            changes.append(c)
    wanted_alarms = {a.name for a in plan.alarms}
    wanted_topics = {t.name for t in plan.topics}
    for name, seen_alarm in sorted(observed.alarms.items()):
        if name not in wanted_alarms and owned(seen_alarm.tags, plan.namespace):
            changes.append(Change(Kind.ALARM, Action.DELETE, name, (), None, seen_alarm))
    for param in sorted(plan.parameters, key=lambda p: p.name):
        if (c := _parameter_change(param, observed.parameters.get(param.name), plan)) is not None:
            changes.append(c)
    for alarm in sorted(plan.alarms, key=lambda a: a.name):
        if (c := _alarm_change(alarm, observed.alarms.get(alarm.name), plan)) is not None:
            changes.append(c)
    for name, seen_topic in sorted(observed.topics.items()):
        if name not in wanted_topics and owned(seen_topic.tags, plan.namespace):
            changes.append(Change(Kind.TOPIC, Action.DELETE, name, (), None, seen_topic))
    return changes


def _refuse_foreign(plan: Plan, observed: ObservedState) -> None:
    """Alarm and topic names are account-wide: if one the file names is tagged as another namespace's, writing
    it would silently take it from that registry, so refuse, naming every such resource."""
    foreign = [f"{kind} {name} (owned by {seen.tags[OWNER_TAG]})"
               for kind, names, found in (("alarm", [a.name for a in plan.alarms], observed.alarms),
                                          ("topic", [t.name for t in plan.topics], observed.topics))
               for name in names
               if (seen := found.get(name)) is not None and seen.tags.get(OWNER_TAG, plan.namespace) != plan.namespace]
    if foreign:
        raise OwnershipConflict(foreign, tag=OWNER_TAG)


def summary(changes: list[Change]) -> dict[str, int]:
    """How many resources each action touches: {"create": n, "update": n, "delete": n}."""
    return {a.value: sum(1 for c in changes if c.action is a) for a in Action}
