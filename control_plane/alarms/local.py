"""Embedded mode: make the registry's alarms real on a local AWS endpoint (moto), the way CloudWatch would.

moto stores alarms but never evaluates them and fires no actions. The LocalAlarmRunner does both: each tick
it drains the runtime's raw metric samples from a feed, evaluates every alarm with the local evaluator at the
injected clock's time, and on each transition (never while a state holds):

1. calls cloudwatch.set_alarm_state on the endpoint, so `voicectl alarms list` and DescribeAlarms show it;
2. publishes CloudWatch's SNS alarm message to the alarm's notify topics (when given an SNS client);
3. on ALARM, for alarms that revert or roll back, invokes the revert handler with the Lambda alarm-action
   event shape, exactly what CloudWatch's Lambda action sends.

The feed is a callable returning the samples that arrived since the last call, or a queue.Queue the
runtime's metrics sink puts samples on; a sample is a `samples.Sample` or a loose
(namespace, metric, dimensions, value, timestamp) tuple.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from control_plane.alarms.evaluator import AlarmDefinition, Evaluator, Transition, definitions_from_registry
from control_plane.alarms.events import format_time, lambda_action_event
from control_plane.alarms.handler import HandlerConfig, handle
from control_plane.alarms.samples import Sample
from control_plane.alarms.states import AlarmState
from control_plane.compiler import Plan
from registry.model import Registry

log = logging.getLogger(__name__)

SampleLike = Sample | tuple[str, str, Any, float, Any]
Feed = Callable[[], Iterable[SampleLike]] | queue.Queue[SampleLike]
Invoke = Callable[[dict[str, Any]], Any]
REASON_LIMIT = 1023  # SetAlarmState's StateReason limit


def to_sample(item: SampleLike) -> Sample:
    if isinstance(item, Sample):
        return item
    namespace, metric, dimensions, value, timestamp = item
    return Sample.of(namespace, metric, dimensions, value, timestamp)


def drain(feed: Feed) -> list[Sample]:
    """Everything the feed has now, without blocking."""
    if isinstance(feed, queue.Queue):
        items = []
        while True:
            try:
                items.append(feed.get_nowait())
            except queue.Empty:
                break
        return [to_sample(i) for i in items]
    return [to_sample(i) for i in feed()]


def put_alarms(cloudwatch: Any, plan: Plan) -> list[str]:
    """PutMetricAlarm for each alarm of a plan (what `voicectl apply` does; tests and the demo use it alone)."""
    for spec in plan.alarms:
        cloudwatch.put_metric_alarm(**spec.args)
    return [spec.name for spec in plan.alarms]


def in_process_handler(*, ssm: Any, sns: Any, codedeploy: Any, config: HandlerConfig,
                       clock: Callable[[], float]) -> Invoke:
    """The revert handler called in-process, with the runner's clock (what a Lambda invocation does)."""
    def invoke(event: dict[str, Any]) -> Any:
        return handle(event, ssm=ssm, sns=sns, codedeploy=codedeploy, config=config,
                      clock=lambda: datetime.fromtimestamp(clock(), UTC))
    return invoke


def sns_alarm_message(transition: Transition, *, region: str, account: str) -> dict[str, Any]:
    """The JSON CloudWatch publishes to an alarm's SNS topics."""
    alarm = transition.alarm
    stat_key = "ExtendedStatistic" if alarm.statistic.startswith("p") else "Statistic"
    return {
        "AlarmName": alarm.name,
        "AlarmDescription": None,
        "AWSAccountId": account,
        "NewStateValue": transition.state.value,
        "NewStateReason": transition.current.reason,
        "StateChangeTime": format_time(datetime.fromtimestamp(transition.at, UTC)),
        "Region": region,
        "AlarmArn": f"arn:aws:cloudwatch:{region}:{account}:alarm:{alarm.name}",
        "OldStateValue": transition.previous.state.value,
        "Trigger": {
            "MetricName": alarm.metric, "Namespace": alarm.namespace,
            "StatisticType": "ExtendedStatistic" if stat_key == "ExtendedStatistic" else "Statistic",
            stat_key: alarm.statistic, "Dimensions": [{"name": k, "value": v} for k, v in alarm.dimensions],
            "Period": alarm.period, "EvaluationPeriods": alarm.evaluation_periods,
            "DatapointsToAlarm": alarm.datapoints_to_alarm, "ComparisonOperator": alarm.comparison.value,
            "Threshold": alarm.threshold, "TreatMissingData": alarm.treat_missing_data.value,
        },
    }


@dataclass
class TickOutcome:
    """One transition and what the runner did about it."""

    transition: Transition
    handler_result: Any = None
    errors: list[str] = field(default_factory=list)


@dataclass
class LocalAlarmRunner:
    """Evaluates alarms on a clock and acts as CloudWatch on the local endpoint (see the module docstring)."""

    alarms: Sequence[AlarmDefinition]
    cloudwatch: Any
    invoke: Invoke | None
    clock: Callable[[], float]
    feed: Feed
    sns: Any = None
    topic_arn_prefix: str | None = None
    region: str = "us-east-1"
    account: str = "123456789012"
    evaluator: Evaluator = field(init=False)
    history: list[TickOutcome] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.evaluator = Evaluator(self.alarms)

    @classmethod
    def from_registry(cls, registry: Registry, **kwargs: Any) -> LocalAlarmRunner:
        return cls(definitions_from_registry(registry), **kwargs)

    @property
    def interval(self) -> float:
        """How often to tick: every minute, like CloudWatch, or every period for high-resolution alarms."""
        return float(min([60, *(a.period for a in self.alarms)]))

    def tick(self) -> list[TickOutcome]:
        """Drain the feed, evaluate at clock(), and act on each transition."""
        self.evaluator.ingest(drain(self.feed))
        outcomes = [self._act(t) for t in self.evaluator.tick(self.clock())]
        self.history.extend(outcomes)
        return outcomes

    def _act(self, transition: Transition) -> TickOutcome:
        outcome = TickOutcome(transition)
        alarm = transition.alarm
        try:
            self.cloudwatch.set_alarm_state(AlarmName=alarm.name, StateValue=transition.state.value,
                                            StateReason=transition.current.reason[:REASON_LIMIT],
                                            StateReasonData=transition.current.reason_data)
        except Exception as exc:  # the alarm may not be applied yet; evaluation and actions go on
            outcome.errors.append(f"set_alarm_state {alarm.name}: {exc}")
            log.warning("set_alarm_state failed for %s: %s", alarm.name, exc)
        if transition.state is not AlarmState.ALARM:
            return outcome  # the registry's alarms have no OK or INSUFFICIENT_DATA actions
        if self.sns is not None and self.topic_arn_prefix:
            message = json.dumps(sns_alarm_message(transition, region=self.region, account=self.account))
            for topic in alarm.notify:
                try:
                    self.sns.publish(TopicArn=f"{self.topic_arn_prefix}{topic}", Message=message,
                                     Subject=f'ALARM: "{alarm.name}"'[:100])
                except Exception as exc:
                    outcome.errors.append(f"publish {topic}: {exc}")
        if self.invoke is not None and (alarm.revert or alarm.rollback_deployment):
            event = lambda_action_event(
                alarm_name=alarm.name, region=self.region, account=self.account, state=transition.state,
                reason=transition.current.reason, reason_data=transition.current.reason_data,
                timestamp=datetime.fromtimestamp(transition.at, UTC), previous_state=transition.previous.state,
                previous_reason=transition.previous.reason,
                previous_timestamp=datetime.fromtimestamp(transition.previous.since, UTC),
                metric={"id": "m1", "metricStat": {
                    "metric": {"namespace": alarm.namespace, "name": alarm.metric,
                               "dimensions": dict(alarm.dimensions)},
                    "period": alarm.period, "stat": alarm.statistic}, "returnData": True},
            )
            try:
                outcome.handler_result = self.invoke(event)
            except Exception as exc:  # Lambda would retry; locally, report it and try again on the next transition
                outcome.errors.append(f"revert handler: {exc}")
                log.exception("revert handler failed for %s", alarm.name)
        return outcome

    def run(self, stop: threading.Event, interval: float | None = None) -> None:
        """Tick until `stop` is set (the embedded stack runs this in a thread on the wall clock)."""
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # keep evaluating: one bad tick must not silence every alarm
                log.exception("alarm evaluation tick failed")
            stop.wait(interval or self.interval)
