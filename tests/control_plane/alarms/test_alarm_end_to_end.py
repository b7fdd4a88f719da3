"""End to end on moto's HTTP server with a fake clock: p95 breach -> ALARM after 2 periods -> override ->
every subject served by the baseline once the runtime's cache expires.

Pieces, all real and wired as in the embedded mode: the example registry applied to SSM and CloudWatch
(moto server), the runtime's RegistryClient (voice_runtime.registry_client) and assignment table
(registry.assignment), the LocalAlarmRunner (evaluator + set_alarm_state + Lambda alarm-action event), and the
revert handler in-process. Only time is simulated.
"""

from __future__ import annotations

import asyncio
import json
import queue
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from control_plane.alarms.handler import HandlerConfig
from control_plane.alarms.local import LocalAlarmRunner, in_process_handler, put_alarms
from control_plane.alarms.states import AlarmState
from control_plane.aws import live_store
from control_plane.aws.session import Clients
from control_plane.compiler import compile_plan
from registry.assignment import Subject
from registry.live_state import PhaseRecord, param_phase
from registry.loader import load_registry
from voice_runtime.registry_client import RegistryClient

NS = "/silentinfinity/voice"
BASELINE = "transcribe-polly-baseline"
T0 = 1_795_000_200  # a 300 s period boundary
SUBJECTS = [Subject.of(f"tester-{i}", internal=True) for i in range(300)] + [Subject.of(f"caller-{i}")
                                                                             for i in range(300)]
DEMO = Path(__file__).resolve().parents[3] / "examples" / "demo-registry.yaml"


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def apply_example(clients: Clients, example: Path) -> Any:
    registry = load_registry(example)
    plan = compile_plan(registry)
    for param in plan.parameters:
        live_store.put_value(clients.ssm, param.name, param.value)
    live_store.put_record(clients.ssm, param_phase(registry.namespace),
                          PhaseRecord(phase="Phase3_Week4", actor="test", at=datetime.fromtimestamp(T0 - 3600, UTC)))
    put_alarms(clients.cloudwatch, plan)
    for topic in plan.topics:
        clients.sns.create_topic(Name=topic.name)
    clients.codedeploy.create_application(applicationName="voice-m2-runtime", computePlatform="Server")
    clients.codedeploy.create_deployment_group(
        applicationName="voice-m2-runtime", deploymentGroupName="voice-m2-relay-canary",
        serviceRoleArn="arn:aws:iam::123456789012:role/codedeploy")
    return registry


def subscribe_queue(clients: Clients, topic: str) -> str:
    """An SQS queue subscribed to `topic`, standing in for the on-call's e-mail."""
    sqs = clients.client("sqs")
    url = sqs.create_queue(QueueName=f"{topic}-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    clients.sns.subscribe(TopicArn=f"arn:aws:sns:us-east-1:123456789012:{topic}", Protocol="sqs", Endpoint=arn)
    return str(url)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("registry_file", "refresh_lead"),
    [
        pytest.param(None, 0, id="example-300s-periods-runtime-refreshes-right-after-the-alarm"),
        pytest.param(None, 1, id="example-300s-periods-runtime-refreshed-1s-before-the-alarm-worst-case"),
        pytest.param(DEMO, 1, id="demo-10s-periods-3s-cache"),
    ],
)
def test_p95_breach_reverts_and_every_subject_gets_the_baseline(aws_endpoint: str, example_path: Path,
                                                                 registry_file: Path | None,
                                                                 refresh_lead: int) -> None:
    clients = Clients(endpoint_url=aws_endpoint, region="us-east-1")
    registry = apply_example(clients, registry_file or example_path)
    queue_url = subscribe_queue(clients, "voice-m2-oncall")
    ns = registry.namespace
    period = registry.alarms["VoiceM2_P95_Breach"].period
    clock = FakeClock(T0)
    feed: queue.Queue[Any] = queue.Queue()
    runner = LocalAlarmRunner.from_registry(
        registry, cloudwatch=clients.cloudwatch, clock=clock, feed=feed, sns=clients.sns,
        topic_arn_prefix="arn:aws:sns:us-east-1:123456789012:",
        invoke=in_process_handler(ssm=clients.ssm, sns=clients.sns, codedeploy=clients.codedeploy,
                                  config=HandlerConfig(ns), clock=clock),
    )
    runtime = RegistryClient(lambda: live_store.read_namespace(clients.ssm, ns), namespace=ns,
                             fallback_baseline=BASELINE, clock=clock)

    async def simulate() -> dict[str, float]:
        # The runtime refreshes every ttl/2 from its first fetch; `refresh_lead` sets where those fetches fall
        # relative to the alarm's evaluation tick at T0 + 2 periods.
        clock.now = T0 - refresh_lead
        await runtime.refresh()
        clock.now = T0
        before = {runtime.table().assign(s) for s in SUBJECTS}
        assert "sonic-unified" in before  # 5% of subjects are on Nova Sonic before the breach
        marks: dict[str, float] = {}
        while clock.now < T0 + 1200 and "all_baseline" not in marks:
            if clock.now % 5 == 0:  # the runtime's sink: a slow Nova Sonic turn every 5 s, baseline turns fine
                feed.put(("SilentInfinity/Voice", "VoiceM2_TTFA_ms", {"Variant": "sonic-unified"}, 950.0, clock.now))
                feed.put(("SilentInfinity/Voice", "VoiceM2_TTFA_ms", {"Variant": BASELINE}, 420.0, clock.now))
            if clock.now % runner.interval == 0:
                for outcome in runner.tick():
                    if outcome.transition.state is AlarmState.ALARM:
                        marks.setdefault("alarm", clock.now)
                        assert outcome.errors == [], outcome.errors
                        assert outcome.handler_result["status"] == "reverted", outcome.handler_result
            table = runtime.table()  # a turn: never waits, refreshes in the background when due
            await runtime.settle()
            if "alarm" in marks and {table.assign(s) for s in SUBJECTS} == {BASELINE}:
                marks["all_baseline"] = clock.now
            clock.now += 1
        return marks

    marks = asyncio.run(simulate())
    # ALARM on the first evaluation (every minute, every 10 s for 10 s periods) whose window's older period holds
    # a breaching sample: the window ends on the evaluation's step, so that is one step after T0 + one period.
    cadence = 10 if period < 60 else 60
    assert marks["alarm"] == T0 + period + cadence
    state = live_store.read_live_state(clients.ssm, ns)
    record = state.overrides["sonic-unified"]
    assert (record.share, record.source, record.alarm) == (0, "alarm", "VoiceM2_P95_Breach")
    alarm_to_override = record.at.timestamp() - marks["alarm"]
    alarm_to_baseline = marks["all_baseline"] - marks["alarm"]
    assert alarm_to_override == 0  # the handler runs in the same evaluation tick
    assert 0 <= alarm_to_baseline <= registry.cache_ttl_seconds  # memo: RTO < 60 s
    if refresh_lead == 1 and registry_file is None:  # just refreshed: it waits the refresh interval (ttl/2)
        assert alarm_to_baseline == registry.cache_ttl_seconds / 2
    # On-call got both messages: CloudWatch's own alarm notification and the handler's "what was reverted".
    sqs = clients.client("sqs")
    got = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    bodies = sorted(json.loads(m["Body"])["Message"] for m in got)
    assert len(bodies) == 2
    assert any(b.startswith("VoiceM2_P95_Breach is ALARM: Threshold Crossed") for b in bodies)
    assert any(json.loads(b).get("NewStateValue") == "ALARM" for b in bodies if b.startswith("{"))
    [described] = clients.cloudwatch.describe_alarms(AlarmNames=["VoiceM2_P95_Breach"])["MetricAlarms"]
    assert described["StateValue"] == "ALARM"
    assert described["StateReason"].startswith("Threshold Crossed: 2 out of the last 2 datapoints")
    print(f"\n[{ns}, period {period} s, refresh lead {refresh_lead} s] simulated alarm->override "
          f"{alarm_to_override:.0f} s, alarm->all-baseline {alarm_to_baseline:.0f} s "
          f"(cache ttl {registry.cache_ttl_seconds} s)")


@pytest.mark.slow
def test_lambda_entry_point_against_the_embedded_endpoint(aws_endpoint: str, example_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # The deployed handler is configured by environment only; AWS_ENDPOINT_URL points boto3 at moto's server.
    from control_plane.alarms import handler as handler_module

    clients = Clients(endpoint_url=aws_endpoint, region="us-east-1")
    apply_example(clients, example_path)
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_endpoint)
    monkeypatch.setenv("VOICE_NAMESPACE", NS)
    monkeypatch.setattr(handler_module, "_clients", None)
    event = json.loads((Path(__file__).parents[2] / "fixtures" / "alarm_events" / "sns_notification.json").read_text())
    result = handler_module.lambda_handler(event, None)
    monkeypatch.setattr(handler_module, "_clients", None)
    assert result["status"] == "reverted", result
    assert live_store.read_live_state(clients.ssm, NS).overrides["sonic-unified"].alarm == "VoiceM2_P95_Breach"
    assert handler_module.lambda_handler(event, None)["status"] == "duplicate"
    monkeypatch.setattr(handler_module, "_clients", None)
