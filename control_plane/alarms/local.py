"""Embedded mode: make the registry's alarms real on a local AWS endpoint (moto), the way CloudWatch would.

moto stores alarms but never evaluates them and fires no actions. The LocalAlarmRunner does both: each tick
it drains the runtime's raw metric samples from a feed, evaluates every alarm with the local evaluator at the
injected clock's time, and on each transition (never while a state holds):

1. calls cloudwatch.set_alarm_state on the endpoint, so `voicectl alarms list` and DescribeAlarms show it;
2. for the new state's actions (AlarmActions, OKActions, InsufficientDataActions of the alarm's PutMetricAlarm
   arguments): publishes CloudWatch's SNS alarm message to each SNS topic, and invokes the revert handler with
   the Lambda alarm-action event for each Lambda function (messages.py builds both as AWS does).

The feed is a callable returning the samples that arrived since the last call, or a queue.Queue the
runtime's metrics sink puts samples on; a sample is a `samples.Sample` or a loose
(namespace, metric, dimensions, value, timestamp) tuple.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from control_plane.alarms.evaluator import (
    AlarmDefinition,
    AlarmStatus,
    Evaluator,
    Transition,
    definitions_from_registry,
)
from control_plane.alarms.handler import HandlerConfig, handle
from control_plane.alarms.messages import (
    AlarmConfig,
    lambda_event,
    lambda_targets,
    sns_message,
    sns_subject,
    sns_targets,
)
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
    alarm_args: Mapping[str, Mapping[str, Any]] | None = None  # PutMetricAlarm arguments by alarm name
    evaluator: Evaluator = field(init=False)
    configs: dict[str, AlarmConfig] = field(init=False)
    history: list[TickOutcome] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.evaluator = Evaluator(self.alarms)
        created = self.clock()
        self.configs = {a.name: self._config(a, created) for a in self.alarms}

    def _config(self, alarm: AlarmDefinition, created: float) -> AlarmConfig:
        if self.alarm_args and alarm.name in self.alarm_args:
            return AlarmConfig.from_args(self.alarm_args[alarm.name], created)
        topics = tuple(f"{self.topic_arn_prefix}{t}" for t in alarm.notify) if self.topic_arn_prefix else ()
        revert = (f"arn:aws:lambda:{self.region}:{self.account}:function:voice-rollout-revert",) if (
            alarm.revert or alarm.rollback_deployment) else ()
        return AlarmConfig(topics + revert, configured_at=created)

    @classmethod
    def from_registry(cls, registry: Registry, **kwargs: Any) -> LocalAlarmRunner:
        return cls(definitions_from_registry(registry), **kwargs)

    @property
    def interval(self) -> float:
        """How often to tick: as often as CloudWatch evaluates, every minute or every 10 s (high resolution)."""
        return float(min([60, *(a.cadence for a in self.alarms)]))

    def tick(self) -> list[TickOutcome]:
        """Drain the feed, evaluate the alarms that are due at clock(), and act on each transition."""
        self.evaluator.ingest(drain(self.feed))
        outcomes = [self._act(t) for t in self.evaluator.tick(self.clock())]
        self.history.extend(outcomes)
        return outcomes

    def set_alarm_state(self, name: str, state: AlarmState, reason: str, reason_data: str = "") -> TickOutcome | None:
        """SetAlarmState: the alarm takes `state` (and runs the new state's actions) until its next evaluation."""
        now = self.clock()
        status = AlarmStatus(state, reason, reason_data, now)
        previous = self.evaluator.set_state(name, status)
        if previous.state is state:
            return None
        alarm = next(a for a in self.alarms if a.name == name)
        outcome = self._act(Transition(alarm, previous, status, now), record=False)
        self.history.append(outcome)
        return outcome

    def _act(self, transition: Transition, *, record: bool = True) -> TickOutcome:
        outcome = TickOutcome(transition)
        alarm = transition.alarm
        if record:
            try:
                self.cloudwatch.set_alarm_state(AlarmName=alarm.name, StateValue=transition.state.value,
                                                StateReason=transition.current.reason[:REASON_LIMIT],
                                                StateReasonData=transition.current.reason_data)
            except Exception as exc:  # the alarm may not be applied yet; evaluation and actions go on
                outcome.errors.append(f"set_alarm_state {alarm.name}: {exc}")
                log.warning("set_alarm_state failed for %s: %s", alarm.name, exc)
        config = self.configs[alarm.name]
        actions = config.actions_for(transition.state.value)
        if self.sns is not None and sns_targets(actions):
            message = json.dumps(sns_message(transition, config, region=self.region, account=self.account))
            for topic in sns_targets(actions):
                try:
                    self.sns.publish(TopicArn=topic, Message=message,
                                     Subject=sns_subject(transition.state.value, alarm.name, self.region))
                except Exception as exc:
                    outcome.errors.append(f"publish {topic}: {exc}")
        if self.invoke is not None and lambda_targets(actions):
            try:
                outcome.handler_result = self.invoke(lambda_event(transition, region=self.region,
                                                                  account=self.account))
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
