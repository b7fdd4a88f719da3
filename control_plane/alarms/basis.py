"""What an alarm's state rests on (pure): real datapoints, or only missing ones.

A reverted variant gets no traffic, so its alarm's metric has no datapoints; with `treat_missing_data:
notBreaching` the alarm returns to OK on missing data alone (issue 17: in about 40 s) while the regression is
still there. Before a person clears the revert, `voicectl override clear` reads the alarm's StateReasonData (as
CloudWatch writes it, reasons.py: `evaluatedDatapoints` are the datapoints that crossed toward the new state,
`{"timestamp", "sampleCount", "value"}` for a real one and `{"timestamp"}` for a missing one) and says which.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from control_plane.alarms.events import parse_time


class Basis(StrEnum):
    FIRING = "firing"  # in ALARM now
    DATA = "data"  # OK on real datapoints evaluated since the revert
    MISSING_ONLY = "missing_only"  # OK (or INSUFFICIENT_DATA) with no real datapoint since the revert
    UNKNOWN = "unknown"  # no reason data to judge, or the alarm does not exist


@dataclass(frozen=True)
class AlarmSnapshot:
    """An alarm as DescribeAlarms returns it: the fields a clear is judged on."""

    name: str
    state: str
    reason: str = ""
    reason_data: str = ""  # StateReasonData: JSON, evaluatedDatapoints among it


@dataclass(frozen=True)
class Judgement:
    alarm: str
    basis: Basis
    datapoints: int  # real datapoints since the revert behind the current state
    detail: str

    def to_dict(self) -> dict[str, object]:
        return {"alarm": self.alarm, "basis": self.basis.value, "datapoints_since_revert": self.datapoints,
                "detail": self.detail}


def judge(alarm: str, snapshot: AlarmSnapshot | None, since: datetime) -> Judgement:
    """Whether `alarm`'s current state rests on data evaluated since `since` (the revert)."""
    if snapshot is None:
        return Judgement(alarm, Basis.UNKNOWN, 0, "the alarm does not exist: nothing would revert again")
    if snapshot.state == "ALARM":
        return Judgement(alarm, Basis.FIRING, 0, f"in ALARM: {snapshot.reason}")
    try:
        data = json.loads(snapshot.reason_data) if snapshot.reason_data else None
        points = data.get("evaluatedDatapoints", []) if isinstance(data, dict) else None
        period = timedelta(seconds=float(data.get("period", 0))) if isinstance(data, dict) else timedelta()
        # A datapoint's timestamp is its period's start; a period that ends after the revert has seen traffic
        # (or its absence) since then.
        real = [p for p in points or [] if isinstance(p, dict) and "value" in p
                and parse_time(p["timestamp"]) + period > since]
    except (ValueError, TypeError, KeyError, AttributeError):
        points, real = None, []
    if points is None:
        return Judgement(alarm, Basis.UNKNOWN, 0, f"{snapshot.state} without reason data to judge it by")
    if real:
        return Judgement(alarm, Basis.DATA, len(real),
                         f"{snapshot.state} on {len(real)} datapoint(s) since the revert")
    return Judgement(alarm, Basis.MISSING_ONLY, 0,
                     f"{snapshot.state} only on missing data: no datapoint since the revert at {since.isoformat()} "
                     "(the variant has had no traffic), so this says nothing about the regression")
