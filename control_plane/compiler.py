"""Registry -> Plan: the AWS resources a registry stands for, as exact API arguments (pure, deterministic).

The same Plan feeds `voicectl plan/apply` (boto3) and the CDK app (infra/), so parameters and alarms are never
defined twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from registry.compiled import CompiledRegistry, compile_registry
from registry.errors import InvalidInput
from registry.live_state import param_registry
from registry.model import Alarm, Registry
from registry.statistics import SIMPLE_STATISTICS

STANDARD_TIER_LIMIT = 4096
ADVANCED_TIER_LIMIT = 8192
OWNER_TAG = "voice-rollout:namespace"
REVERT_FUNCTION_NAME = "voice-rollout-revert"


class ParameterTooLarge(InvalidInput):
    """A compiled parameter is over SSM's size limit (`size` bytes of at most `limit`)."""

    def __init__(self, name: str, size: int, limit: int) -> None:
        super().__init__(f"parameter {name} would be {size} bytes; SSM allows at most {limit} (advanced tier)",
                         where=name, value=size)
        self.size = size
        self.limit = limit


@dataclass(frozen=True)
class AwsTarget:
    """Where ARNs point. Offline compiles use a placeholder account; apply fills in the caller's."""

    region: str = "us-east-1"
    account_id: str = "123456789012"
    partition: str = "aws"
    revert_function_name: str = REVERT_FUNCTION_NAME

    def topic_arn(self, topic: str) -> str:
        return f"arn:{self.partition}:sns:{self.region}:{self.account_id}:{topic}"

    @property
    def revert_function_arn(self) -> str:
        return f"arn:{self.partition}:lambda:{self.region}:{self.account_id}:function:{self.revert_function_name}"


@dataclass(frozen=True)
class ParameterSpec:
    name: str
    value: str
    tier: str  # "Standard" | "Advanced"
    description: str
    type: str = "String"


@dataclass(frozen=True)
class AlarmSpec:
    name: str
    args: dict[str, Any]  # exact PutMetricAlarm keyword arguments (without Tags)
    revert: tuple[str, ...]
    notify: tuple[str, ...]
    rollback_deployment: bool


@dataclass(frozen=True)
class TopicSpec:
    name: str
    display_name: str
    subscriptions: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """The desired AWS state of one registry."""

    namespace: str
    compiled: CompiledRegistry
    parameters: tuple[ParameterSpec, ...]
    alarms: tuple[AlarmSpec, ...]
    topics: tuple[TopicSpec, ...]
    revert_map: dict[str, tuple[str, ...]] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        """Deterministic JSON (sorted keys): byte-identical for the same registry and target."""
        doc = {
            "namespace": self.namespace,
            "tags": self.tags,
            "parameters": [p.__dict__ for p in self.parameters],
            "alarms": [{"name": a.name, "put_metric_alarm": a.args, "revert": list(a.revert),
                        "notify": list(a.notify), "rollback_deployment": a.rollback_deployment}
                       for a in self.alarms],
            "topics": [{"name": t.name, "display_name": t.display_name, "subscriptions": list(t.subscriptions)}
                       for t in self.topics],
            "revert_map": {k: list(v) for k, v in self.revert_map.items()},
        }
        return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def parameter_tier(name: str, value: str) -> str:
    """Standard up to 4 KB, Advanced up to 8 KB; beyond that SSM refuses the value, so we do first."""
    size = len(value.encode())
    if size <= STANDARD_TIER_LIMIT:
        return "Standard"
    if size <= ADVANCED_TIER_LIMIT:
        return "Advanced"
    raise ParameterTooLarge(name, size, ADVANCED_TIER_LIMIT)


def alarm_arguments(name: str, alarm: Alarm, registry: Registry, target: AwsTarget) -> dict[str, Any]:
    """The exact PutMetricAlarm arguments: percentiles go in ExtendedStatistic, the rest in Statistic."""
    actions = [target.topic_arn(t) for t in alarm.actions.notify]
    if alarm.actions.revert or alarm.actions.rollback_deployment:
        actions.append(target.revert_function_arn)
    args: dict[str, Any] = {
        "AlarmName": name,
        "AlarmDescription": alarm.description or f"voice-rollout alarm {name}",
        "ActionsEnabled": True,
        "AlarmActions": actions,
        "OKActions": [],
        "InsufficientDataActions": [],
        "MetricName": alarm.metric,
        "Namespace": registry.metric_namespace_of(alarm.namespace),
        "Dimensions": [{"Name": k, "Value": v} for k, v in sorted(alarm.dimensions.items())],
        "Period": alarm.period,
        "EvaluationPeriods": alarm.evaluation_periods,
        "DatapointsToAlarm": alarm.datapoints_to_alarm or alarm.evaluation_periods,
        "Threshold": float(alarm.threshold),
        "ComparisonOperator": alarm.comparison.value,
        "TreatMissingData": alarm.treat_missing_data.value,
    }
    if alarm.statistic in SIMPLE_STATISTICS:
        args["Statistic"] = alarm.statistic
    else:
        args["ExtendedStatistic"] = alarm.statistic
    if alarm.unit:
        args["Unit"] = alarm.unit
    if alarm.evaluate_low_sample_count_percentile:
        args["EvaluateLowSampleCountPercentile"] = alarm.evaluate_low_sample_count_percentile
    return args


def compile_plan(registry: Registry, target: AwsTarget | None = None) -> Plan:
    """Compile a validated registry into its Plan. Pure: same registry and target, same bytes."""
    target = target or AwsTarget()
    compiled = compile_registry(registry)
    registry_value = compiled.to_json()
    reg_name = param_registry(registry.namespace)
    parameters = (
        ParameterSpec(reg_name, registry_value, parameter_tier(reg_name, registry_value),
                      "voice-rollout compiled registry (variants, phases, alarm -> revert map)"),
    )
    alarms = tuple(
        AlarmSpec(name, alarm_arguments(name, alarm, registry, target), tuple(alarm.actions.revert),
                  tuple(alarm.actions.notify), alarm.actions.rollback_deployment)
        for name, alarm in sorted(registry.alarms.items())
    )
    topic_names = sorted(set(registry.topics) | {t for a in registry.alarms.values() for t in a.actions.notify})
    topics = tuple(
        TopicSpec(name, (registry.topics[name].display_name if name in registry.topics else None) or name,
                  tuple(registry.topics[name].subscriptions) if name in registry.topics else ())
        for name in topic_names
    )
    revert_map = {a.name: a.revert for a in alarms if a.revert}
    return Plan(registry.namespace, compiled, parameters, alarms, topics, revert_map,
                {OWNER_TAG: registry.namespace})
