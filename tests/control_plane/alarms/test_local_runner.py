"""LocalAlarmRunner with small fakes: what it tells CloudWatch, SNS and the handler, and when."""

from __future__ import annotations

import json
import queue
import threading
from dataclasses import dataclass, field
from typing import Any

from control_plane.alarms.events import Delivery, parse_event
from control_plane.alarms.local import LocalAlarmRunner, drain
from control_plane.alarms.states import AlarmState
from tests.control_plane.alarms.conftest import T0, p95_alarm, ttfa

PREFIX = "arn:aws:sns:us-east-1:123456789012:"


@dataclass
class FakeCloudWatch:
    calls: list[dict[str, Any]] = field(default_factory=list)
    fail: bool = False

    def set_alarm_state(self, **kwargs: Any) -> None:
        if self.fail:
            raise RuntimeError("ResourceNotFound: alarm not applied")
        self.calls.append(kwargs)


@dataclass
class FakeSns:
    published: list[dict[str, Any]] = field(default_factory=list)

    def publish(self, **kwargs: Any) -> None:
        self.published.append(kwargs)


class Clock:
    def __init__(self) -> None:
        self.now = float(T0)

    def __call__(self) -> float:
        return self.now


def runner(alarms: list[Any], feed: Any, *, invoke: Any = None, cloudwatch: FakeCloudWatch | None = None,
           clock: Clock | None = None) -> tuple[LocalAlarmRunner, FakeCloudWatch, FakeSns, list[dict[str, Any]]]:
    events: list[dict[str, Any]] = []
    cw, sns = cloudwatch or FakeCloudWatch(), FakeSns()
    run = LocalAlarmRunner(alarms, cloudwatch=cw, invoke=invoke or (lambda e: events.append(e) or {"status": "ok"}),
                           clock=clock or Clock(), feed=feed, sns=sns, topic_arn_prefix=PREFIX)
    return run, cw, sns, events


def breaching_feed(q: queue.Queue[Any], start: float, seconds: int) -> None:
    for i in range(0, seconds, 15):
        q.put(ttfa(950.0, start + i))


def test_transition_sets_state_publishes_and_invokes_once() -> None:
    q: queue.Queue[Any] = queue.Queue()
    clock = Clock()
    run, cw, sns, events = runner([p95_alarm()], q, clock=clock)
    breaching_feed(q, T0, 1200)
    for now in range(T0, T0 + 1200, 60):
        clock.now = now
        run.tick()
    assert [c["StateValue"] for c in cw.calls] == ["OK", "ALARM"]  # INSUFFICIENT->OK (no data), then ALARM
    assert cw.calls[1]["StateReason"].startswith("Threshold Crossed: 2 out of the last 2 datapoints")
    assert json.loads(cw.calls[1]["StateReasonData"])["period"] == 300
    [event] = events  # the handler is invoked once, on the transition, not on every tick in ALARM
    [transition] = parse_event(event)
    assert (transition.delivery, transition.state, transition.previous_state) == (
        Delivery.LAMBDA_ACTION, AlarmState.ALARM, AlarmState.OK)
    assert transition.alarm_arn == "arn:aws:cloudwatch:us-east-1:123456789012:alarm:VoiceM2_P95_Breach"
    assert event["alarmData"]["configuration"]["metrics"][0]["metricStat"]["stat"] == "p95"
    [message] = sns.published
    assert message["TopicArn"] == PREFIX + "voice-m2-oncall"
    body = json.loads(message["Message"])
    assert (body["NewStateValue"], body["OldStateValue"]) == ("ALARM", "OK")
    assert body["Trigger"]["ExtendedStatistic"] == "p95"
    assert [t.transition.state for t in run.history] == [AlarmState.OK, AlarmState.ALARM]


def test_notify_only_alarm_does_not_invoke_the_revert_handler() -> None:
    q: queue.Queue[Any] = queue.Queue()
    clock = Clock()
    alarm = p95_alarm(name="VoiceM2_TTFA_Regression", revert=(), rollback_deployment=False,
                      notify=("voice-m2-engineering",))
    run, _, sns, events = runner([alarm], q, clock=clock)
    breaching_feed(q, T0, 900)
    for now in range(T0, T0 + 900, 60):
        clock.now = now
        run.tick()
    assert events == []
    assert [p["TopicArn"] for p in sns.published] == [PREFIX + "voice-m2-engineering"]


def test_set_alarm_state_failure_does_not_stop_the_revert() -> None:
    clock = Clock()
    samples = [ttfa(950.0, T0 + i) for i in range(0, 600, 15)]
    run, _, _, events = runner([p95_alarm()], lambda: samples, cloudwatch=FakeCloudWatch(fail=True), clock=clock)
    clock.now = T0 + 600
    [outcome] = run.tick()
    assert outcome.transition.state is AlarmState.ALARM
    assert outcome.errors and "not applied" in outcome.errors[0]
    assert len(events) == 1


def test_handler_failure_is_reported_not_raised() -> None:
    def broken(event: dict[str, Any]) -> Any:
        raise RuntimeError("SSM throttled")

    clock = Clock()
    samples = [ttfa(950.0, T0 + i) for i in range(0, 600, 15)]
    run, _, _, _ = runner([p95_alarm()], lambda: samples, invoke=broken, clock=clock)
    clock.now = T0 + 600
    [outcome] = run.tick()
    assert outcome.errors == ["revert handler: SSM throttled"]


def test_feed_accepts_loose_tuples_from_a_queue_without_blocking() -> None:
    q: queue.Queue[Any] = queue.Queue()
    q.put(("SilentInfinity/Voice", "VoiceM2_TTFA_ms", {"Variant": "sonic-unified"}, 900, T0 + 1))
    q.put(ttfa(100.0, T0 + 2))
    got = drain(q)
    assert [s.value for s in got] == [900.0, 100.0]
    assert drain(q) == []


def test_interval_follows_the_shortest_high_resolution_period() -> None:
    run, _, _, _ = runner([p95_alarm(), p95_alarm(name="fast", period=10)], lambda: [])
    assert run.interval == 10.0
    assert runner([p95_alarm()], lambda: [])[0].interval == 60.0


def test_run_loop_stops_when_told() -> None:
    stop = threading.Event()

    def feed() -> list[Any]:  # the first tick asks for samples, and the test says stop right then
        stop.set()
        return []

    run, cw, _, _ = runner([p95_alarm()], feed)
    thread = threading.Thread(target=run.run, args=(stop, 0.001))
    thread.start()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert [c["StateValue"] for c in cw.calls] == ["OK"]  # exactly one tick ran, and it finished
