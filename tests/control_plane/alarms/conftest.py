"""Fixtures for the alarm tests: a namespace in SSM holding the example registry, SNS topics, CodeDeploy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from control_plane.alarms.evaluator import AlarmDefinition
from control_plane.alarms.samples import Sample, dimensions_key
from control_plane.aws import live_store
from registry.compiled import compile_registry
from registry.live_state import PhaseRecord, param_phase, param_registry
from registry.loader import load_registry
from registry.model import Comparison, MissingData

NS = "/silentinfinity/voice"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "alarm_events"
NOW = datetime(2026, 11, 25, 16, 10, 5, tzinfo=UTC)


def load_event(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def seed_namespace(ssm: Any, example: Path, phase: str = "Phase3_Week4") -> None:
    """What `voicectl apply` + `advance` leave in SSM: the compiled registry and the active phase."""
    compiled = compile_registry(load_registry(example))
    live_store.put_value(ssm, param_registry(NS), compiled.to_json())
    live_store.put_record(ssm, param_phase(NS), PhaseRecord(phase=phase, actor="test", at=NOW))


@dataclass
class FakeCodeDeploy:
    """moto lists deployments but does not implement StopDeployment: this records it instead, and, as CodeDeploy
    does, a stopped deployment is no longer listed among the active statuses (it becomes Stopped)."""

    inner: Any
    stopped: list[tuple[str, bool]] = field(default_factory=list)

    def list_deployments(self, **kwargs: Any) -> Any:
        listed = self.inner.list_deployments(**kwargs)
        gone = {d for d, _ in self.stopped}
        return {**listed, "deployments": [d for d in listed.get("deployments", []) if d not in gone]}

    def stop_deployment(self, *, deploymentId: str, autoRollbackEnabled: bool) -> dict[str, str]:
        self.stopped.append((deploymentId, autoRollbackEnabled))
        return {"status": "Pending", "statusMessage": "stopping"}


@dataclass
class Aws:
    ssm: Any
    sns: Any
    sqs: Any
    codedeploy: FakeCodeDeploy
    queue_url: str
    deployment_id: str

    def messages(self) -> list[dict[str, Any]]:
        """Notifications delivered to the on-call topic (through an SQS subscription)."""
        got = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(m["Body"]) for m in got]

    def override_versions(self, variant: str) -> int:
        return len(live_store.parameter_history(self.ssm, f"{NS}/overrides/{variant}"))


@pytest.fixture
def aws(example_path: Path) -> Iterator[Aws]:
    with mock_aws():
        region = "us-east-1"
        ssm = boto3.client("ssm", region_name=region)
        sns = boto3.client("sns", region_name=region)
        sqs = boto3.client("sqs", region_name=region)
        cd = boto3.client("codedeploy", region_name=region)
        seed_namespace(ssm, example_path)
        topic = sns.create_topic(Name="voice-m2-oncall")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="oncall")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        cd.create_application(applicationName="voice-m2-runtime", computePlatform="Server")
        cd.create_deployment_group(applicationName="voice-m2-runtime", deploymentGroupName="voice-m2-relay-canary",
                                   serviceRoleArn="arn:aws:iam::123456789012:role/codedeploy")
        deployment_id = cd.create_deployment(applicationName="voice-m2-runtime",
                                             deploymentGroupName="voice-m2-relay-canary")["deploymentId"]
        yield Aws(ssm, sns, sqs, FakeCodeDeploy(cd), queue_url, deployment_id)


def p95_alarm(**overrides: object) -> AlarmDefinition:
    base: dict[str, object] = dict(
        name="VoiceM2_P95_Breach", namespace="SilentInfinity/Voice", metric="VoiceM2_TTFA_ms",
        dimensions=dimensions_key({"Variant": "sonic-unified"}), statistic="p95", period=300,
        evaluation_periods=2, datapoints_to_alarm=2, threshold=800.0, comparison=Comparison.GREATER_THAN,
        treat_missing_data=MissingData.NOT_BREACHING, revert=("sonic-unified",), notify=("voice-m2-oncall",),
        rollback_deployment=True,
    )
    base.update(overrides)
    return AlarmDefinition(**base)  # type: ignore[arg-type]


def ttfa(value: float, at: float, variant: str = "sonic-unified") -> Sample:
    return Sample.of("SilentInfinity/Voice", "VoiceM2_TTFA_ms", {"Variant": variant}, value, at)


T0 = 1_800_000_000 - (1_800_000_000 % 300)  # a period boundary
