"""Alarm states as DescribeAlarms reports them (the thin boto3 shell behind `voicectl alarms list`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from control_plane.aws.session import aws_call
from registry.compiled import CompiledAlarm


@dataclass(frozen=True)
class AlarmRow:
    """One alarm: its state, why, since when, and (when a registry is given) what it reverts."""

    name: str
    state: str | None  # None: declared in the registry but not found in CloudWatch (not applied)
    reason: str = ""
    updated: datetime | None = None
    metric: str = ""
    statistic: str = ""
    threshold: float | None = None
    revert: tuple[str, ...] = ()
    notify: tuple[str, ...] = ()
    rollback_deployment: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state, "reason": self.reason,
                "updated": self.updated.isoformat() if self.updated else None, "metric": self.metric,
                "statistic": self.statistic, "threshold": self.threshold, "revert": list(self.revert),
                "notify": list(self.notify), "rollback_deployment": self.rollback_deployment}


def describe(cloudwatch: Any, *, names: Sequence[str] | None = None, prefix: str | None = None) -> list[dict[str, Any]]:
    """The MetricAlarms DescribeAlarms returns (every page; by name when `names`, else by `prefix`)."""
    found: list[dict[str, Any]] = []
    batches: list[dict[str, Any]] = (
        [{"AlarmNames": list(names[i:i + 100])} for i in range(0, len(names), 100)] if names
        else [{"AlarmNamePrefix": prefix} if prefix else {}]
    )
    with aws_call("cloudwatch:DescribeAlarms"):
        paginator = cloudwatch.get_paginator("describe_alarms")
        for kwargs in batches:
            for page in paginator.paginate(AlarmTypes=["MetricAlarm"], **kwargs):
                found.extend(page.get("MetricAlarms", []))
    return found


def alarm_rows(described: Sequence[dict[str, Any]], declared: dict[str, CompiledAlarm] | None = None) -> list[AlarmRow]:
    """Join DescribeAlarms output with a registry's alarms (pure). Declared-but-missing alarms get state None."""
    by_name = {a["AlarmName"]: a for a in described}
    names = sorted(declared) if declared is not None else sorted(by_name)
    rows = []
    for name in names:
        alarm = by_name.get(name, {})
        actions = declared.get(name) if declared is not None else None
        rows.append(AlarmRow(
            name=name,
            state=alarm.get("StateValue"),
            reason=alarm.get("StateReason", ""),
            updated=alarm.get("StateUpdatedTimestamp"),
            metric=alarm.get("MetricName", ""),
            statistic=alarm.get("ExtendedStatistic") or alarm.get("Statistic", ""),
            threshold=alarm.get("Threshold"),
            revert=tuple(actions.revert) if actions else (),
            notify=tuple(actions.notify) if actions else (),
            rollback_deployment=bool(actions and actions.rollback_deployment),
        ))
    return rows
