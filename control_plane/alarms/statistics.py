"""CloudWatch statistics computed from raw samples: the five simple ones and percentiles (pNN, pNN.N).

moto computes no percentiles, so the local evaluator computes them here from the raw values the runtime emits.

Percentile definition (nearest rank): for n samples sorted ascending, pP is the sample at 1-based rank
ceil(P/100 * n), clamped to [1, n]. The result is always a value that was actually observed, it is exact
for any n (no interpolation between samples, no histogram buckets) and deterministic. CloudWatch computes
percentiles of raw values to within about 1% of this; for alarm thresholds like "p95 > 800 ms" the two
agree except when samples straddle the threshold by less than that.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

from registry.errors import UnknownName

SIMPLE: dict[str, Callable[[Sequence[float]], float]] = {
    "SampleCount": lambda xs: float(len(xs)),
    "Average": lambda xs: math.fsum(xs) / len(xs),
    "Sum": lambda xs: math.fsum(xs),
    "Minimum": lambda xs: float(min(xs)),
    "Maximum": lambda xs: float(max(xs)),
}
_PERCENTILE = re.compile(r"^p(100|\d{1,2}(?:\.\d{1,2})?)$")


class UnsupportedStatistic(UnknownName):
    """The local evaluator cannot compute this statistic (e.g. trimmed means): say so rather than guess."""


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of `values` (see the module docstring); `values` must not be empty."""
    if not values:
        raise ValueError("percentile of no samples")
    ordered = sorted(values)
    rank = math.ceil(pct / 100.0 * len(ordered))
    return float(ordered[min(max(rank, 1), len(ordered)) - 1])


def parse_percentile(statistic: str) -> float | None:
    """`p95` -> 95.0, `p99.9` -> 99.9; None when `statistic` is not a percentile."""
    match = _PERCENTILE.match(statistic)
    return float(match.group(1)) if match else None


def check_statistic(statistic: str) -> None:
    """Raise UnsupportedStatistic unless `statistic` can be computed here."""
    if statistic not in SIMPLE and parse_percentile(statistic) is None:
        raise UnsupportedStatistic("statistic", statistic, [*SIMPLE, "a percentile such as p95 or p99.9"],
                                   what=f"statistic {statistic!r} is not supported by the local alarm evaluator")


def aggregate(values: Sequence[float], statistic: str) -> float:
    """One period's datapoint: `statistic` over that period's raw samples (which must not be empty)."""
    if not values:
        raise ValueError("a period with no samples has no datapoint")
    if statistic in SIMPLE:
        return SIMPLE[statistic](values)
    pct = parse_percentile(statistic)
    if pct is None:
        check_statistic(statistic)
    return percentile(values, pct or 0.0)
