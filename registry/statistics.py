"""CloudWatch statistic names: the grammar AWS accepts, and which of them this project computes exactly (pure).

Source: CloudWatch user guide, "CloudWatch statistics definitions" (Statistics-definitions.md, awsdocs) and the
PutMetricAlarm / GetMetricData references (ExtendedStatistic: "p0.0" to "p100" and the trimmed forms):

* simple statistics, exact case: SampleCount, Average, Sum, Minimum, Maximum;
* percentiles `pNN` from p0 to p100, with up to ten decimals (`p99.9`, `p95.0123456789`);
* trimmed mean, winsorized mean, trimmed count, trimmed sum: one number in lower case (`tm90`, `wm99.5`, `tc90`,
  `ts90`: a percentage), or a range in upper case with one or two bounds, all percentages (`TM(10%:90%)`,
  `TM(:95%)`) or all values (`TM(150:1000)`, `TC(:0.5)`); percentile rank `PR(...)` and interquartile mean `IQM`.

What is computed here (control_plane.alarms.statistics) and what is refused, and why:

* simple statistics and percentiles: exactly (nearest rank over the raw samples, in exact rational arithmetic);
* TM/WM/TC/TS with value bounds: exactly as documented ("the calculation includes values equal to the higher
  boundary, but does not include values equal to the lower boundary");
* percentage-bounded forms (`tm90`, `TM(10%:90%)`, `IQM`...) and `PR`: refused. The guide does not say how a
  percentage boundary becomes a rank (ties, rounding) nor whether PR's lower bound is inclusive, so a local
  value would be a guess that could disagree with the alarm in AWS. `voicectl validate` says so at the line.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Literal

SIMPLE_STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
_NUMBER = r"\d{1,3}(?:\.\d{1,10})?"  # a percentage: up to ten decimals
_VALUE = r"\d+(?:\.\d{1,10})?"  # a value bound
_PERCENTILE = re.compile(rf"^p({_NUMBER})$")
_SHORT = re.compile(rf"^(tm|wm|tc|ts)({_NUMBER})$")
_RANGE = re.compile(rf"^(TM|WM|TC|TS|PR)\(({_VALUE}%?)?:({_VALUE}%?)?\)$")

Kind = Literal["simple", "p", "tm", "wm", "tc", "ts", "pr", "iqm"]


@dataclass(frozen=True)
class Statistic:
    """A parsed statistic. For `p`, `percentile` is the exact rational percentage; for ranges, `low`/`high` are
    the bounds (None: open) and `percent` says whether they are percentages or values."""

    text: str
    kind: Kind
    percentile: Fraction | None = None
    low: Fraction | None = None
    high: Fraction | None = None
    percent: bool = False

    @property
    def extended(self) -> bool:
        """An extended statistic (ExtendedStatistic in PutMetricAlarm), as opposed to a simple one."""
        return self.kind != "simple"

    @property
    def unsupported(self) -> str | None:
        """Why the local evaluator refuses to compute this statistic, or None when it computes it exactly."""
        if self.kind in ("simple", "p"):
            return None
        if self.kind == "pr":
            return ("CloudWatch does not document whether percentile rank's lower bound is inclusive, so a local "
                    "value could disagree with AWS")
        if self.kind == "iqm" or self.percent:
            return ("CloudWatch does not document how a percentage bound becomes a rank (rounding, ties), so a "
                    "local value could disagree with AWS; use a percentile (p90) or value bounds (TM(100:900))")
        return None


def _fraction(text: str) -> Fraction:
    return Fraction(Decimal(text.rstrip("%")))


@functools.lru_cache(maxsize=1024)
def parse_statistic(text: str) -> Statistic | None:
    """The statistic `text` names, or None when CloudWatch would refuse it (case matters: `P95` is refused)."""
    if text in SIMPLE_STATISTICS:
        return Statistic(text, "simple")
    if text == "IQM":
        return Statistic(text, "iqm", low=Fraction(25), high=Fraction(75), percent=True)
    if match := _PERCENTILE.match(text):
        value = _fraction(match.group(1))
        return Statistic(text, "p", percentile=value) if value <= 100 else None
    if match := _SHORT.match(text):
        value = _fraction(match.group(2))
        kind: Kind = match.group(1)  # type: ignore[assignment]
        return Statistic(text, kind, high=value, percent=True) if value <= 100 else None
    if match := _RANGE.match(text):
        low, high = match.group(2), match.group(3)
        if low is None and high is None:
            return None
        marks = {b.endswith("%") for b in (low, high) if b is not None}
        if len(marks) != 1:
            return None  # a percentage and a value in one range
        percent = marks.pop()
        lo = _fraction(low) if low is not None else None
        hi = _fraction(high) if high is not None else None
        if percent and any(b is not None and b > 100 for b in (lo, hi)):
            return None
        if lo is not None and hi is not None and lo >= hi:
            return None
        kind = match.group(1).lower()  # type: ignore[assignment]
        return Statistic(text, kind, low=lo, high=hi, percent=percent)
    return None


def is_valid_statistic(text: str) -> bool:
    """True for every statistic CloudWatch accepts (whether or not the local evaluator computes it)."""
    return parse_statistic(text) is not None
