"""A local CloudWatch metric-alarm evaluator (pure: samples + clock value in, states and transitions out).

moto stores alarms but never evaluates them; this plays CloudWatch's part in the embedded mode and in backtests.
Each rule cites the user guide ("Using Amazon CloudWatch alarms", AlarmThatSendsEmail.md, awsdocs; "Alarm
evaluation window", alarm-evaluation-window.md) or an AWS-written capture (tests/fixtures/SOURCES.md):

* Cadence and window: "For any period of one minute or longer, an alarm is evaluated every minute and the
  evaluation is based on the window of time defined by the Period and Evaluation Periods ... at the end of minute
  6, the alarm is evaluated based on the data from minutes 2 to 6"; "If the alarm period is 10 seconds or 30
  seconds, the alarm is evaluated every 10 seconds" (20 s, the third high-resolution period PutMetricAlarm takes,
  likewise). So the default SlidingWindow ends at the last whole minute (10 s step for high resolution) and its
  periods are cut back from there, not at multiples of the period: captures show a 300 s alarm queried at
  01:59:07 reading the datapoint of 01:54:00. A WallClockWindow aligns the periods to multiples of the period (UTC).
  (PutMetricAlarm's EvaluationInterval exists only with EvaluationCriteria, i.e. PromQL alarms: not modelled.)
* Evaluation range: CloudWatch retrieves more datapoints than EvaluationPeriods (N); its example retrieves 5 for
  N = 3. We use N + 2 (`AlarmDefinition.evaluation_range`).
* M out of N: with at least N real datapoints in the range, the N most recent are evaluated and the alarm is ALARM
  when at least M (DatapointsToAlarm) breach; missing-data treatment is unused.
* With fewer than N, every real datapoint is evaluated and the shortfall (never more) is filled per
  TreatMissingData, most recent missing periods first; `missing` and `ignore` evaluate the real ones alone, with
  none `missing` -> INSUFFICIENT_DATA and `ignore` keeps the state. `missing` goes to ALARM early ("premature")
  when no real datapoint is non-breaching and the oldest breaching one is at least M periods old. Alarms on
  AWS/DynamoDB metrics always ignore missing data.
* EvaluateLowSampleCountPercentile: `ignore` keeps the state while an evaluated percentile datapoint has too few
  samples (statistics.low_sample_count); `evaluate` (or unset) evaluates anyway.
* Actions run on transitions only: `Evaluator.tick` returns a Transition when the state changes.

Not modelled: metric math, anomaly bands, composite alarms, PromQL alarms, and ingestion delay (samples count the
moment they are given; time_to_detect takes the delay as a parameter).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from control_plane.alarms.reasons import reason_data, reason_text
from control_plane.alarms.samples import Dimensions, MetricKey, Sample, SampleStore, dimensions_key
from control_plane.alarms.states import AlarmState
from control_plane.alarms.statistics import aggregate, check_statistic, low_sample_count, percentile_of_slots
from registry.detection import cadence
from registry.model import Comparison, MissingData, Registry
from registry.statistics import SIMPLE_STATISTICS, parse_statistic

INITIAL_REASON = "Unchecked: Initial alarm creation"
Window = Literal["sliding", "wall_clock"]


@dataclass(frozen=True)
class AlarmDefinition:
    """What the evaluator needs of one alarm: the metric, the rule, and what firing does.

    `datapoints_to_alarm_set` says whether the alarm was created with DatapointsToAlarm (the compiler always sets
    it); it only changes the wording of the state reason.
    """

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
    unit: str | None = None
    evaluate_low_sample_count: str | None = None  # "evaluate" | "ignore" | None (= evaluate)
    window: Window = "sliding"
    datapoints_to_alarm_set: bool = True
    description: str | None = None

    def __post_init__(self) -> None:
        check_statistic(self.statistic)
        if not 1 <= self.datapoints_to_alarm <= self.evaluation_periods:
            raise ValueError(f"{self.name}: DatapointsToAlarm must be between 1 and EvaluationPeriods")
        if self.period <= 0:
            raise ValueError(f"{self.name}: period must be positive")
        if self.evaluate_low_sample_count not in (None, "", "evaluate", "ignore"):
            raise ValueError(f"{self.name}: EvaluateLowSampleCountPercentile must be evaluate or ignore")

    @property
    def key(self) -> MetricKey:
        return (self.namespace, self.metric, self.dimensions)

    @property
    def extended(self) -> bool:
        return self.statistic not in SIMPLE_STATISTICS

    @property
    def percentile(self) -> bool:
        """A pNN statistic (the sliding window's costly case)."""
        stat = parse_statistic(self.statistic)
        return stat is not None and stat.kind == "p"

    @property
    def evaluation_range(self) -> int:
        """How many recent periods are retrieved (the docs' example: 5 for EvaluationPeriods 3)."""
        return self.evaluation_periods + 2

    @property
    def cadence(self) -> int:
        """Seconds between two evaluations: 10 for high-resolution periods, else 60."""
        return cadence(self.period)

    @property
    def missing_data(self) -> MissingData:
        """The treatment in force: "Alarms that evaluate metrics in the AWS/DynamoDB namespace always ignore
        missing data even if you choose a different option"."""
        return MissingData.IGNORE if self.namespace == "AWS/DynamoDB" else self.treat_missing_data

    def window_end(self, now: float) -> float:
        """The end of the data the evaluation at `now` reads (exclusive)."""
        step = self.period if self.window == "wall_clock" else self.cadence
        return math.floor(now / step) * step


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
            unit=alarm.unit,
            evaluate_low_sample_count=alarm.evaluate_low_sample_count_percentile,
            description=alarm.description or f"voice-rollout alarm {name}",
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
    """One period: its start, the statistic's value (None when missing), whether it breaches, and whether a
    percentile had too few samples to count (EvaluateLowSampleCountPercentile)."""

    start: float
    value: float | None
    sample_count: int
    breaching: bool | None
    low_samples: bool = False


DatapointCache = dict[tuple[str, float], Datapoint]


def datapoint(alarm: AlarmDefinition, store: SampleStore, start: float) -> Datapoint:
    """The datapoint of the period [start, start + period)."""
    end = start + alarm.period
    if alarm.percentile and start % alarm.cadence == 0 and alarm.period % alarm.cadence == 0:
        # The sliding window shifts every period each evaluation: select from per-step sorted slots (the store
        # keeps them) rather than sort the whole period again.
        slots = store.sorted_slots(alarm.key, start, end, alarm.cadence)
        count = sum(len(s) for s in slots)
        value = percentile_of_slots(slots, alarm.statistic)
    else:
        values = store.values(alarm.key, start, end)
        count = len(values)
        value = aggregate(values, alarm.statistic) if values else None
    if value is None:
        return Datapoint(start, None, count, None)
    return Datapoint(start, value, count, breaches(value, alarm.comparison, alarm.threshold),
                     low_sample_count(alarm.statistic, count))


def datapoints(alarm: AlarmDefinition, store: SampleStore, now: float,
               cache: DatapointCache | None = None) -> list[Datapoint]:
    """The evaluation range at time `now`: the N + 2 periods ending at the window's end, oldest first.

    With a `cache`, a period's datapoint is recomputed only when its sample count changed: the store only
    grows inside the evaluation range (pruning drops periods older than it), so an equal count means the
    same samples, and a percentile over a busy period is not re-sorted on every evaluation.
    """
    end = alarm.window_end(now)
    points: list[Datapoint] = []
    real = 0
    for i in range(1, alarm.evaluation_range + 1):  # newest first; reversed below
        start = end - i * alarm.period
        if real >= alarm.evaluation_periods:
            # N real datapoints are already in hand: CloudWatch evaluates the N most recent, so older periods
            # cannot change the outcome or the reason; they are not computed (a percentile costs a sort).
            points.append(Datapoint(start, None, 0, None))
            continue
        point = None
        if cache is not None:
            known = cache.get((alarm.name, start))
            if known is not None and known.sample_count == store.count(alarm.key, start, start + alarm.period):
                point = known
        if point is None:
            point = datapoint(alarm, store, start)
            if cache is not None:
                cache[(alarm.name, start)] = point
        real += point.value is not None
        points.append(point)
    points.reverse()
    return points


Rule = Literal["real", "filled", "premature", "unknown", "retain"]


@dataclass(frozen=True)
class Outcome:
    """The decision over one evaluation range. `state` None means: keep the current state."""

    state: AlarmState | None
    rule: Rule
    evaluated: tuple[int, ...]  # indexes into the range of the real datapoints that were evaluated
    filled: int  # missing datapoints filled in per TreatMissingData
    breaching: int  # breaching datapoints among the evaluated ones, fills included
    fills: tuple[int, ...] = ()  # indexes of the missing datapoints filled in (the most recent missing ones)


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
    fills = tuple(sorted([i for i, p in enumerate(points) if p is None][-fill:]))
    if treat is MissingData.BREACHING:
        return Outcome(AlarmState.ALARM if hits + fill >= m else AlarmState.OK, "filled", used, fill, hits + fill,
                       fills)
    if treat is MissingData.NOT_BREACHING:
        return Outcome(AlarmState.ALARM if hits >= m else AlarmState.OK, "filled", used, fill, hits, fills)
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
    """A state change of one alarm: what actions run on."""

    alarm: AlarmDefinition
    previous: AlarmStatus
    current: AlarmStatus
    at: float

    @property
    def state(self) -> AlarmState:
        return self.current.state


def judge(alarm: AlarmDefinition, points: Sequence[Datapoint]) -> Outcome:
    """The outcome over a range of datapoints, EvaluateLowSampleCountPercentile applied."""
    outcome = decide([p.breaching for p in points], alarm.datapoints_to_alarm, alarm.evaluation_periods,
                     alarm.missing_data)
    if alarm.evaluate_low_sample_count == "ignore" and any(points[i].low_samples for i in outcome.evaluated):
        return Outcome(None, "retain", outcome.evaluated, outcome.filled, outcome.breaching, outcome.fills)
    return outcome


def evaluate(alarm: AlarmDefinition, store: SampleStore, now: float, status: AlarmStatus,
             cache: DatapointCache | None = None) -> tuple[AlarmStatus, Transition | None]:
    """One evaluation of one alarm at `now`: its new status, and the Transition if the state changed."""
    points = datapoints(alarm, store, now, cache)
    outcome = judge(alarm, points)
    if outcome.state is None or outcome.state is status.state:
        return status, None
    new = AlarmStatus(outcome.state, reason_text(alarm, points, outcome), reason_data(alarm, points, outcome, now),
                      now)
    return new, Transition(alarm, status, new, now)


@dataclass
class Evaluator:
    """The alarms of one registry, their current states and the samples they read.

    `tick(now)` evaluates each alarm when its cadence has moved on since its last evaluation (once a minute, or
    every 10 s for high-resolution alarms), so it may be called as often as the caller likes. Deterministic: the
    same samples and the same sequence of calls give the same transitions.
    """

    alarms: Sequence[AlarmDefinition]
    store: SampleStore = field(default_factory=SampleStore)
    statuses: dict[str, AlarmStatus] = field(default_factory=dict)
    cache: DatapointCache = field(default_factory=dict)
    evaluated_at: dict[str, float] = field(default_factory=dict)
    evaluation_counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for alarm in self.alarms:
            self.statuses.setdefault(alarm.name, AlarmStatus.initial())

    def ingest(self, samples: Iterable[Sample]) -> int:
        return self.store.extend(samples)

    def due(self, alarm: AlarmDefinition, now: float) -> bool:
        """Has a new evaluation slot begun for `alarm` since its last evaluation?"""
        slot = math.floor(now / alarm.cadence)
        last = self.evaluated_at.get(alarm.name)
        return last is None or slot > math.floor(last / alarm.cadence)

    def tick(self, now: float) -> list[Transition]:
        """Evaluate every alarm that is due at `now`; return the state changes (actions run on these only)."""
        transitions = []
        for alarm in self.alarms:
            if not self.due(alarm, now):
                continue
            self.evaluated_at[alarm.name] = now
            self.evaluation_counts[alarm.name] = self.evaluation_counts.get(alarm.name, 0) + 1
            status, transition = evaluate(alarm, self.store, now, self.statuses[alarm.name], self.cache)
            self.statuses[alarm.name] = status
            if transition is not None:
                transitions.append(transition)
        horizon = max((a.period * (a.evaluation_range + 1) + a.cadence for a in self.alarms), default=0)
        self.store.prune(now - horizon)
        for key in [k for k in self.cache if k[1] < now - horizon]:
            del self.cache[key]
        return transitions

    def set_state(self, name: str, status: AlarmStatus) -> AlarmStatus:
        """SetAlarmState: the alarm takes `status` until its next evaluation; returns the status it had."""
        previous = self.statuses[name]
        self.statuses[name] = status
        return previous

    def state(self, name: str) -> AlarmState:
        return self.statuses[name].state
