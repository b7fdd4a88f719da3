"""The demo's release owner decides with the rollout guard against moto's server, on an injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from control_plane.aws.metrics_source import Sample, SampleMetricSource
from control_plane.aws.session import Clients
from control_plane.rollout.guard import ReasonCode
from embedded.rollout import ReleaseOwner
from embedded.stack import DEMO_REGISTRY, apply_registry, load_registry

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
NS = "SilentInfinity/Voice"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def owner(aws_endpoint: str) -> tuple[ReleaseOwner, Clock]:
    registry = load_registry(DEMO_REGISTRY)
    clients = Clients(endpoint_url=aws_endpoint, region="us-east-1")
    apply_registry(clients, registry)
    clock = Clock()
    return ReleaseOwner(registry, clients.ssm, clients.cloudwatch, SampleMetricSource(), clock), clock


def echo_samples(source: SampleMetricSource, start: datetime, ttfa_ms: float, n: int = 20) -> None:
    for i in range(n):
        source.samples.append(Sample(NS, "VoiceM2_TTFA_ms", {"Variant": "ws-echo"}, start + timedelta(seconds=i / 4),
                                     ttfa_ms))


def test_refuses_while_baking_and_without_data_then_advances(owner: tuple[ReleaseOwner, Clock]) -> None:
    release, clock = owner
    release.start("test")
    # GIVEN Phase1 just started WHEN advancing THEN the bake and the missing gate data both hold it
    refused = release.try_advance("too early")
    assert refused.record is None
    assert {r.code for r in refused.decision.reasons} == {ReasonCode.BAKE, ReasonCode.GATE_INCONCLUSIVE}
    # GIVEN the bake is over and echo turns answered in 3 ms WHEN advancing THEN Phase2 is recorded
    clock.now = T0 + timedelta(seconds=6)
    assert isinstance(release.metrics, SampleMetricSource)
    echo_samples(release.metrics, T0 + timedelta(seconds=1), 3.0)
    moved = release.try_advance("gates hold")
    assert moved.record is not None and moved.record.phase == "Phase2_Week2"
    assert release.active()[0] == "Phase2_Week2"


def test_a_failing_gate_and_a_missing_approval_refuse(owner: tuple[ReleaseOwner, Clock]) -> None:
    release, clock = owner
    release.start("test")
    clock.now = T0 + timedelta(seconds=6)
    assert isinstance(release.metrics, SampleMetricSource)
    echo_samples(release.metrics, T0 + timedelta(seconds=1), 80.0)  # p50 80 ms: the echo gate wants < 50
    refused = release.try_advance("slow echo")
    assert [r.code for r in refused.decision.reasons] == [ReasonCode.GATE_FAILED]
    # Phase2 has an approval gate: without a sign-off it holds even when every metric passes
    release.metrics.samples.clear()
    echo_samples(release.metrics, T0 + timedelta(seconds=1), 3.0)
    assert release.try_advance("ok").record is not None
    clock.now = T0 + timedelta(seconds=20)
    for i in range(20):
        at = T0 + timedelta(seconds=15 + i / 4)
        release.metrics.samples += [Sample(NS, "VoiceM2_TTFA_ms", {"Variant": "sonic-unified"}, at, 150.0),
                                    Sample(NS, "VoiceM2_SessionError", {"Variant": "sonic-unified"}, at, 0.0)]
    held = release.try_advance("no sign-off")
    assert [r.code for r in held.decision.reasons] == [ReasonCode.GATE_INCONCLUSIVE]
    assert release.approve("Phase2_Week2", 4.4, "panel")
    assert release.try_advance("signed off").record is not None
    assert release.active()[0] == "Phase3_Week4"
