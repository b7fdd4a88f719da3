"""A local CloudWatch metric-alarm evaluator (pure: samples + clock value in, states and transitions out).

moto stores alarms but never evaluates them; this plays CloudWatch's part in the embedded mode and in
backtests, following "Using Amazon CloudWatch alarms" (awsdocs/amazon-cloudwatch-user-guide,
AlarmThatSendsEmail.md, sections "Evaluating an alarm", "How alarm state is evaluated when data is missing"
and "Avoiding premature transitions to alarm state"):

* Period aggregation: a datapoint is the alarm's statistic over the raw samples timestamped in one period.
  Periods are aligned to the epoch and only complete periods are evaluated.
* Evaluation range: CloudWatch retrieves more datapoints than EvaluationPeriods (N) in case some are
  missing; its documented example retrieves 5 for N = 3. We use N + 2 (`AlarmDefinition.evaluation_range`).
* M out of N: with at least N real datapoints in the range, the N most recent real ones are evaluated and
  the alarm is ALARM when at least M (DatapointsToAlarm) of them breach; missing-data treatment is unused.
* With fewer than N real datapoints, the shortfall (never more) is filled per TreatMissingData:
  breaching / notBreaching fill it; `missing` and `ignore` evaluate the real datapoints alone. With none at
  all, `missing` -> INSUFFICIENT_DATA and `ignore` keeps the current state. `missing` goes to ALARM early
  ("premature" rule) when no real datapoint in the range is non-breaching and the oldest breaching one is
  at least M periods old; when only too-recent breaching datapoints exist it is INSUFFICIENT_DATA (`ignore`
  keeps the state). The unit tests reproduce every row of the documentation's two tables.
* Actions run on transitions only: `Evaluator.tick` returns a Transition when the state changes, and
  nothing while an alarm stays where it is.

Not modelled: percentile low-sample-count handling (EvaluateLowSampleCountPercentile: always evaluated
here), metric math, anomaly bands, composite alarms, and CloudWatch's ingestion delay.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from control_plane.alarms.samples import Dimensions, MetricKey, Sample, SampleStore, dimensions_key
from control_plane.alarms.states import AlarmState
from control_plane.alarms.statistics import aggregate, check_statistic
from registry.model import Comparison, MissingData, Registry

_OPERATOR_TEXT = {
    Comparison.GREATER_THAN: "greater than",
    Comparison.GREATER_THAN_OR_EQUAL: "greater than or equal to",
    Comparison.LESS_THAN: "less than",
    Comparison.LESS_THAN_OR_EQUAL: "less than or equal to",
}
INITIAL_REASON = "Unchecked: Initial alarm creation"


@dataclass(frozen=True)
class AlarmDefinition:
    """What the evaluator needs of one alarm: the metric, the rule, and what firing does."""

    name: str
    namespace: str
    metric: str
    dimensions: Dimensions
    statistic: str
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison: Comparison
    treat_missing_data: MissingData = MissingData.MISSING
    revert: tuple[str, ...] = ()
    notify: tuple[str, ...] = ()
    rollback_deployment: bool = False

    def __post_init__(self) -> None:
        check_statistic(self.statistic)
        if not 1 <= self.datapoints_to_alarm <= self.evaluation_periods:
            raise ValueError(f"{self.name}: DatapointsToAlarm must be between 1 and EvaluationPeriods")
        if self.period <= 0:
            raise ValueError(f"{self.name}: period must be positive")

    @property
    def key(self) -> MetricKey:
        return (self.namespace, self.metric, self.dimensions)

    @property
    def evaluation_range(self) -> int:
        """How many recent periods are retrieved (the docs' example: 5 for EvaluationPeriods 3)."""
        return self.evaluation_periods + 2


def definitions_from_registry(registry: Registry) -> list[AlarmDefinition]:
    """Every alarm of a registry, as the evaluator sees it (sorted by name)."""
    return [
        AlarmDefinition(
            name=name,
            namespace=registry.metric_namespace_of(alarm.namespace),
            metric=alarm.metric,
            dimensions=dimensions_key(alarm.dimensions),
            statistic=alarm.statistic,
            period=alarm.period,
            evaluation_periods=alarm.evaluation_periods,
            datapoints_to_alarm=alarm.datapoints_to_alarm or alarm.evaluation_periods,
            threshold=float(alarm.threshold),
            comparison=alarm.comparison,
            treat_missing_data=alarm.treat_missing_data,
            revert=tuple(alarm.actions.revert),
            notify=tuple(alarm.actions.notify),
            rollback_deployment=alarm.actions.rollback_deployment,
        )
        for name, alarm in sorted(registry.alarms.items())
    ]


def breaches(value: float, comparison: Comparison, threshold: float) -> bool:
    """Does a datapoint breach? (the statistic is the left operand, as in CloudWatch)."""
    match comparison:
        case Comparison.GREATER_THAN:
            return value > threshold
        case Comparison.GREATER_THAN_OR_EQUAL:
            return value >= threshold
        case Comparison.LESS_THAN:
            return value < threshold
        case Comparison.LESS_THAN_OR_EQUAL:
            return value <= threshold
    raise ValueError(f"unknown comparison {comparison!r}")


@dataclass(frozen=True)
class Datapoint:
    """One period: its start, the statistic's value (None when no sample arrived) and whether it breaches."""

    start: float
    value: float | None
    sample_count: int
    breaching: bool | None


DatapointCache = dict[tuple[str, float], Datapoint]


def datapoints(alarm: AlarmDefinition, store: SampleStore, now: float,
               cache: DatapointCache | None = None) -> list[Datapoint]:
    """The evaluation range at time `now`: the last complete periods, oldest first.

    With a `cache`, a period's datapoint is recomputed only when its sample count changed: the store only
    grows inside the evaluation range (pruning drops periods older than it), so an equal count means the
    same samples, and a percentile over a busy period is not re-sorted on every tick.
    """
    end = math.floor(now / alarm.period) * alarm.period
    points = []
    for i in range(alarm.evaluation_range, 0, -1):
        start = end - i * alarm.period
        if cache is not None:
            known = cache.get((alarm.name, start))
            if known is not None and known.sample_count == store.count(alarm.key, start, start + alarm.period):
                points.append(known)
                continue
        values = store.values(alarm.key, start, start + alarm.period)
        if values:
            value = aggregate(values, alarm.statistic)
            point = Datapoint(start, value, len(values), breaches(value, alarm.comparison, alarm.threshold))
        else:
            point = Datapoint(start, None, 0, None)
        if cache is not None:
            cache[(alarm.name, start)] = point
        points.append(point)
    return points


Rule = Literal["real", "filled", "premature", "unknown", "retain"]


@dataclass(frozen=True)
class Outcome:
    """The decision over one evaluation range. `state` None means: keep the current state (ignore)."""

    state: AlarmState | None
    rule: Rule
    evaluated: tuple[int, ...]  # indexes into the range of the real datapoints that were evaluated
    filled: int  # missing datapoints filled in per TreatMissingData
    breaching: int  # breaching datapoints among the evaluated ones, fills included


def decide(points: Sequence[bool | None], datapoints_to_alarm: int, evaluation_periods: int,
           treat: MissingData) -> Outcome:
    """CloudWatch's state rule over one range of breach flags (oldest first; None = missing). Pure."""
    m, n = datapoints_to_alarm, evaluation_periods
    real = [i for i, p in enumerate(points) if p is not None]
    if len(real) >= n:
        used = tuple(real[-n:])
        hits = sum(1 for i in used if points[i])
        return Outcome(AlarmState.ALARM if hits >= m else AlarmState.OK, "real", used, 0, hits)
    used = tuple(real)
    hits = sum(1 for i in used if points[i])
    fill = n - len(real)
    if treat is MissingData.BREACHING:
        return Outcome(AlarmState.ALARM if hits + fill >= m else AlarmState.OK, "filled", used, fill, hits + fill)
    if treat is MissingData.NOT_BREACHING:
        return Outcome(AlarmState.ALARM if hits >= m else AlarmState.OK, "filled", used, fill, hits)
    if not real:
        state = AlarmState.INSUFFICIENT_DATA if treat is MissingData.MISSING else None
        return Outcome(state, "unknown" if state else "retain", (), 0, 0)
    if hits >= m:
        return Outcome(AlarmState.ALARM, "real", used, 0, hits)
    if any(not points[i] for i in used):
        return Outcome(AlarmState.OK, "real", used, 0, hits)
    # Only breaching real datapoints, fewer than M of them: ALARM early if the oldest is old enough that the
    # next datapoint could not turn it OK (the docs' "premature" rule), otherwise wait for more data.
    oldest_age = len(points) - used[0]
    if treat is MissingData.MISSING and oldest_age >= m:
        return Outcome(AlarmState.ALARM, "premature", used, 0, hits)
    state = AlarmState.INSUFFICIENT_DATA if treat is MissingData.MISSING else None
    return Outcome(state, "unknown" if state else "retain", used, 0, hits)


@dataclass(frozen=True)
class AlarmStatus:
    """An alarm's current state and why, as DescribeAlarms reports it."""

    state: AlarmState
    reason: str
    reason_data: str
    since: float

    @classmethod
    def initial(cls, at: float = 0.0) -> AlarmStatus:
        return cls(AlarmState.INSUFFICIENT_DATA, INITIAL_REASON, "", at)


@dataclass(frozen=True)
class Transition:
    """A state change of one alarm: what actions run on (ALARM -> revert; the rest notify nothing here)."""

    alarm: AlarmDefinition
    previous: AlarmStatus
    current: AlarmStatus
    at: float

    @property
    def state(self) -> AlarmState:
        return self.current.state


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%d/%m/%y %H:%M:%S")


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def reason_text(alarm: AlarmDefinition, points: Sequence[Datapoint], outcome: Outcome) -> str:
    """A StateReason in CloudWatch's wording (Threshold Crossed / Insufficient Data)."""
    op = _OPERATOR_TEXT[alarm.comparison]
    threshold = f"{alarm.threshold!r}"
    m, n = alarm.datapoints_to_alarm, alarm.evaluation_periods
    if outcome.state is AlarmState.INSUFFICIENT_DATA:
        unknown = sum(1 for p in points if p.value is None)
        return f"Insufficient Data: {_plural(unknown, 'datapoint')} were unknown."
    used = [points[i] for i in reversed(outcome.evaluated)]  # CloudWatch lists the most recent first
    listing = ", ".join(f"{p.value!r} ({_when(p.start)})" for p in used)
    alarming = outcome.state is AlarmState.ALARM
    total = len(used) + outcome.filled
    # Counted as CloudWatch states it: breaching datapoints for ALARM, non-breaching ones for OK, fills included.
    count = outcome.breaching if alarming else total - outcome.breaching
    verb = "was" if count == 1 else "were"
    minimum = (f"(minimum {_plural(m, 'datapoint')} for OK -> ALARM transition)" if alarming
               else f"(minimum {_plural(n - m + 1, 'datapoint')} for ALARM -> OK transition)")
    treated = "Breaching" if alarm.treat_missing_data is MissingData.BREACHING else "NonBreaching"
    if not used:
        return (f"Threshold Crossed: no datapoints were received for {_plural(n, 'period')} and "
                f"{_plural(outcome.filled, 'missing datapoint')} {'was' if outcome.filled == 1 else 'were'} "
                f"treated as [{treated}].")
    text = (f"Threshold Crossed: {count} out of the last {total} datapoints [{listing}] {verb} "
            f"{'' if alarming else 'not '}{op} the threshold ({threshold})")
    if outcome.filled:
        text += f" ({outcome.filled} of them missing and treated as [{treated}])"
    if outcome.rule == "premature":
        text += " and the more recent datapoints are missing"
    return f"{text} {minimum}."


def reason_data(alarm: AlarmDefinition, points: Sequence[Datapoint], now: float) -> str:
    """StateReasonData JSON, shaped like CloudWatch's (version, queryDate, startDate, statistic...)."""
    real = [p for p in points if p.value is not None]
    data: dict[str, Any] = {
        "version": "1.0",
        "queryDate": _iso(now),
        "startDate": _iso(points[0].start) if points else _iso(now),
        "statistic" if not alarm.statistic.startswith("p") else "extendedStatistic": alarm.statistic,
        "period": alarm.period,
        "recentDatapoints": [p.value for p in reversed(real)][: alarm.evaluation_periods],
        "threshold": alarm.threshold,
        "evaluatedDatapoints": [
            {"timestamp": _iso(p.start), **({"sampleCount": p.sample_count, "value": p.value}
                                            if p.value is not None else {})}
            for p in reversed(points)
        ],
    }
    return json.dumps(data, separators=(",", ":"))


def evaluate(alarm: AlarmDefinition, store: SampleStore, now: float, status: AlarmStatus,
             cache: DatapointCache | None = None) -> tuple[AlarmStatus, Transition | None]:
    """One evaluation of one alarm at `now`: its new status, and the Transition if the state changed."""
    points = datapoints(alarm, store, now, cache)
    outcome = decide([p.breaching for p in points], alarm.datapoints_to_alarm, alarm.evaluation_periods,
                     alarm.treat_missing_data)
    if outcome.state is None or outcome.state is status.state:
        return status, None
    new = AlarmStatus(outcome.state, reason_text(alarm, points, outcome), reason_data(alarm, points, now), now)
    return new, Transition(alarm, status, new, now)


@dataclass
class Evaluator:
    """The alarms of one registry, their current states and the samples they read.

    Deterministic: the same samples and the same sequence of `tick(now)` calls give the same transitions.
    """

    alarms: Sequence[AlarmDefinition]
    store: SampleStore = field(default_factory=SampleStore)
    statuses: dict[str, AlarmStatus] = field(default_factory=dict)
    cache: DatapointCache = field(default_factory=dict)

    def __post_init__(self) -> None:
        for alarm in self.alarms:
            self.statuses.setdefault(alarm.name, AlarmStatus.initial())

    def ingest(self, samples: Iterable[Sample]) -> int:
        return self.store.extend(samples)

    def tick(self, now: float) -> list[Transition]:
        """Evaluate every alarm at `now`; return the state changes (actions run on these only)."""
        transitions = []
        for alarm in self.alarms:
            status, transition = evaluate(alarm, self.store, now, self.statuses[alarm.name], self.cache)
            self.statuses[alarm.name] = status
            if transition is not None:
                transitions.append(transition)
        horizon = max((a.period * (a.evaluation_range + 1) for a in self.alarms), default=0)
        self.store.prune(now - horizon)
        for key in [k for k in self.cache if k[1] < now - horizon]:
            del self.cache[key]
        return transitions

    def state(self, name: str) -> AlarmState:
        return self.statuses[name].state
