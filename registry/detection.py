"""Time-to-detect arithmetic of a CloudWatch alarm (pure; control_plane.alarms.detection explains the model and
tests it against the evaluator). Here so that `voicectl validate` can warn without the evaluator."""

from __future__ import annotations

import math

HIGH_RESOLUTION_CADENCE = 10  # seconds between evaluations of a 10, 20 or 30 s alarm (else 60)
CADENCE = 60
MEMO_RTO_SECONDS = 60  # the memo: "RTO: < 60 seconds"


def cadence(period: int) -> int:
    """Seconds between two evaluations: every 10 s for high-resolution periods, else every minute."""
    return HIGH_RESOLUTION_CADENCE if period < CADENCE else CADENCE


def detection_bounds(period: int, datapoints_to_alarm: int, *, wall_clock: bool = False,
                     delay: float = 0.0) -> tuple[float, float]:
    """(earliest, latest) seconds from a sustained regression's start to the evaluation that fires ALARM."""
    hidden = math.floor(delay / period) if delay > 0 else 0  # recent periods with no visible sample yet
    grid = period if wall_clock else cadence(period)
    earliest = max((hidden + datapoints_to_alarm - 1) * period, delay)
    latest = (hidden + datapoints_to_alarm) * period + grid
    return float(earliest), float(latest)
