"""CloudWatch statistics of one period's raw samples, computed as the user guide defines them (pure).

The names and which of them are computed exactly are registry.statistics' business; this module does the
arithmetic ("CloudWatch statistics definitions", Statistics-definitions.md, awsdocs):

* SampleCount, Sum, Average (Sum / SampleCount), Minimum, Maximum;
* percentile pP, nearest rank: for n samples sorted ascending, the sample at 1-based rank ceil(P/100 * n), clamped
  to [1, n], with P taken as the exact decimal the user wrote (p99.9 of 1..1000 is rank 999, not 1000 as
  floating point's 99.9/100*1000 = 999.0000000000001 would give). Always an observed value;
* TM/WM/TC/TS with value bounds: the samples v with low < v <= high ("includes values equal to the higher
  boundary, but does not include values equal to the lower boundary"); WM clamps the others to the bounds.

Extended statistics do not exist over data with a negative value ("these type of statistics are not available for
metrics when any of the metric values are negative numbers"): `aggregate` returns None, a missing datapoint.

EvaluateLowSampleCountPercentile (user guide, "Percentile-based CloudWatch alarms and low data samples"): for a
percentile q in [0.5, 1.0) a period has too few samples below 10/(1-q); for q in (0, 0.5) below 10/q.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from fractions import Fraction

import numpy as np

from registry.errors import UsageError
from registry.statistics import Statistic, parse_statistic

SIMPLE: dict[str, Callable[[Sequence[float]], float]] = {
    "SampleCount": lambda xs: float(len(xs)),
    "Average": lambda xs: math.fsum(xs) / len(xs),
    "Sum": lambda xs: math.fsum(xs),
    "Minimum": lambda xs: float(min(xs)),
    "Maximum": lambda xs: float(max(xs)),
}


class UnsupportedStatistic(UsageError):
    """CloudWatch has no such statistic, or the local evaluator refuses to guess its value: say so."""


def statistic_of(text: str) -> Statistic:
    """The parsed statistic, or UnsupportedStatistic naming why it cannot be computed here."""
    parsed = parse_statistic(text)
    if parsed is None:
        raise UnsupportedStatistic(f"{text!r} is not a CloudWatch statistic", value=text,
                                   expected="SampleCount, Average, Sum, Minimum, Maximum or a percentile such as p95")
    if parsed.unsupported:
        raise UnsupportedStatistic(f"statistic {text!r} is not computed by voice-rollout: {parsed.unsupported}",
                                   value=text, expected="a percentile such as p95 or p99.9, or value bounds such as "
                                                        "TM(100:900)")
    return parsed


def check_statistic(text: str) -> None:
    """Raise UnsupportedStatistic unless `text` can be computed here."""
    statistic_of(text)


def nearest_rank(count: int, percentile: Fraction) -> int:
    """The 1-based rank of percentile P among `count` sorted samples (exact; clamped to [1, count])."""
    # ceil(P * count / 100) in integers: Fraction arithmetic costs microseconds on every datapoint.
    rank = -(-percentile.numerator * count // (100 * percentile.denominator))
    return min(max(rank, 1), count)


def percentile(values: Sequence[float], pct: float | Fraction | str) -> float:
    """Nearest-rank percentile of `values` (not empty). A str or Fraction is exact; a float is taken as written."""
    if not values:
        raise ValueError("percentile of no samples")
    exact = Fraction(pct) if not isinstance(pct, float) else Fraction(repr(pct))
    return float(sorted(values)[nearest_rank(len(values), exact) - 1])


def percentile_of_slots(slots: Sequence[np.ndarray], statistic: str) -> float | None:
    """Percentile `statistic` (pNN) over the union of sorted arrays (SampleStore.sorted_slots): the same nearest
    rank as `aggregate`, selected with one partition; None when a value is negative or there are none."""
    stat = statistic_of(statistic)
    if stat.kind != "p" or stat.percentile is None:
        raise ValueError(f"{statistic} is not a percentile")
    count = sum(len(s) for s in slots)
    if not count or any(s[0] < 0 for s in slots):
        return None
    k = nearest_rank(count, stat.percentile) - 1
    if len(slots) == 1:
        return float(slots[0][k])
    return float(np.partition(np.concatenate(slots), k)[k])


def _bounded(values: Sequence[float], stat: Statistic) -> list[float]:
    low, high = stat.low, stat.high
    return [v for v in values if (low is None or v > low) and (high is None or v <= high)]


def _compute(values: Sequence[float], stat: Statistic) -> float | None:
    if stat.kind == "simple":
        return SIMPLE[stat.text](values)
    if stat.kind == "p":
        assert stat.percentile is not None
        ordered = sorted(values)
        if ordered[0] < 0:
            return None
        return float(ordered[nearest_rank(len(ordered), stat.percentile) - 1])
    if min(values) < 0:  # a C-speed scan: this runs once per period per evaluation
        return None
    kept = _bounded(values, stat)
    if stat.kind == "tc":
        return float(len(kept))
    if stat.kind == "ts":
        return math.fsum(kept)
    if stat.kind == "tm":
        return math.fsum(kept) / len(kept) if kept else None
    # wm: every sample counts, those outside the bounds as the bound's value
    low = float(stat.low) if stat.low is not None else -math.inf
    high = float(stat.high) if stat.high is not None else math.inf
    return math.fsum(min(max(v, low), high) for v in values) / len(values)


def aggregate(values: Sequence[float], statistic: str) -> float | None:
    """One period's datapoint: `statistic` over its raw samples (not empty); None when CloudWatch gives none
    (an extended statistic over a negative value, a trimmed mean of nothing)."""
    if not values:
        raise ValueError("a period with no samples has no datapoint")
    if statistic in SIMPLE:
        return SIMPLE[statistic](values)
    return _compute(values, statistic_of(statistic))


@functools.lru_cache(maxsize=256)
def _significant_count(statistic: str) -> int:
    """The fewest samples a period needs for `statistic` to be significant (0: any count will do)."""
    stat = parse_statistic(statistic)
    if stat is None or stat.kind != "p" or stat.percentile is None:
        return 0
    q = stat.percentile / 100
    if Fraction(1, 2) <= q < 1:
        return math.ceil(10 / (1 - q))  # count < 10/(1-q) <=> count < ceil(10/(1-q)) for a whole count
    if 0 < q < Fraction(1, 2):
        return math.ceil(10 / q)
    return 0


def low_sample_count(statistic: str, count: int) -> bool:
    """Too few samples for a percentile to be statistically significant (EvaluateLowSampleCountPercentile)."""
    return count < _significant_count(statistic)
