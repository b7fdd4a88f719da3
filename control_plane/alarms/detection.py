"""Time to detect: how long after a regression starts an alarm can fire, at the earliest and at the latest (pure).

The model is the evaluator's own (evaluator.py): evaluations every `cadence` seconds over a window ending at
the last whole cadence step (sliding) or period boundary (wall clock), periods cut back from the window's end,
the M (DatapointsToAlarm) most recent real datapoints deciding. A regression starts at t0 while traffic flows:
every sample from t0 on breaches the threshold, none before; each sample is visible to CloudWatch `delay`
seconds after its timestamp (CloudWatch's ingestion, or the runtime's flush interval).

* latest: a period only breaches once every sample in it is bad (what Minimum does for GreaterThan, or any
  statistic while the regression is still a minority of a period). The M datapoints must lie wholly after t0,
  so the window must end at least M periods after t0; the worst alignment adds one step of the window grid.
* earliest: one bad sample makes a period breach (Maximum does). The oldest of the M datapoints need only end
  after t0, and the newest needs one visible bad sample: max((M - 1) periods, delay), approached when t0 falls
  just before a window end.

A delay of `delay` seconds also leaves the floor(delay / period) most recent periods without any visible sample
(missing), which pushes the M real datapoints back by as many periods. tests/control_plane/alarms checks both
bounds against the evaluator itself, for every alignment of t0.
"""

from __future__ import annotations

from dataclasses import dataclass

from control_plane.alarms.evaluator import AlarmDefinition
from registry.detection import detection_bounds


@dataclass(frozen=True)
class Detection:
    """Seconds from a regression's start to the evaluation that turns the alarm ALARM."""

    alarm: str
    earliest: float
    latest: float
    cadence: int
    delay: float

    def as_dict(self) -> dict[str, float | str | int]:
        return {"alarm": self.alarm, "earliest_seconds": self.earliest, "latest_seconds": self.latest,
                "evaluated_every_seconds": self.cadence, "metric_delay_seconds": self.delay}

    def describe(self) -> str:
        return (f"fires {_seconds(self.earliest)} to {_seconds(self.latest)} after a regression starts "
                f"(evaluated every {self.cadence} s, metric delay {_seconds(self.delay)})")


def _seconds(value: float) -> str:
    return f"{value:g} s" if value < 120 else f"{value:g} s ({value / 60:g} min)"


def time_to_detect(alarm: AlarmDefinition, delay: float = 0.0) -> Detection:
    """The earliest and latest time to detect of `alarm` for a sustained regression (see the module docstring)."""
    earliest, latest = detection_bounds(alarm.period, alarm.datapoints_to_alarm,
                                        wall_clock=alarm.window == "wall_clock", delay=delay)
    return Detection(alarm.name, earliest, latest, alarm.cadence, float(delay))
