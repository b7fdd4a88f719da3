"""Apply with no blind window (issue 17): stopped at any write, every alarm that exists is named by the registry
parameter (the revert handler rejects an alarm it does not know, and CloudWatch never fires it again while it
stays in ALARM); and exit 5 lists exactly what landed, the failed call included when AWS acted on it."""

from __future__ import annotations

import json

import pytest
from moto import mock_aws
from moto.moto_api._internal.models import moto_api_backend

from control_plane.compiler import OWNER_TAG
from registry.errors import PartialApply
from registry.loader import load_registry
from registry.model import Registry
from tests.conftest import EXAMPLE
from tests.control_plane.aws.recording import RecordingClients
from tests.control_plane.test_apply import NS, apply_registry, changed, pending_changes, registry_value


@pytest.fixture(scope="module")
def registry() -> Registry:
    return load_registry(EXAMPLE)


def grown(registry: Registry) -> Registry:
    """The file with one more reverting alarm, and one removed (the rename case: old alarm out, new one in)."""
    alarms = dict(registry.alarms)
    alarms["VoiceM2_P99_Breach"] = alarms["VoiceM2_P95_Breach"].model_copy(update={"statistic": "p99",
                                                                                   "threshold": 1200.0})
    del alarms["VoiceM2_TTFA_Regression"]
    return registry.model_copy(update={"alarms": alarms})


def owned_alarms(clients: RecordingClients) -> set[str]:
    names = set()
    for alarm in clients.cloudwatch.describe_alarms()["MetricAlarms"]:
        tags = clients.cloudwatch.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"]
        if {"Key": OWNER_TAG, "Value": NS} in tags:
            names.add(alarm["AlarmName"])
    return names


def known_to_the_handler(clients: RecordingClients) -> set[str]:
    value = registry_value(clients)
    return set(json.loads(value)["alarms"]) if value else set()


SCENARIOS = {"fresh": (None, "registry"), "grown": ("registry", "grown"), "changed": ("registry", "changed")}


def _files(registry: Registry, scenario: str) -> tuple[Registry | None, Registry]:
    build = {"registry": lambda: registry, "grown": lambda: grown(registry), "changed": lambda: changed(registry)}
    before, after = SCENARIOS[scenario]
    return (build[before]() if before else None), build[after]()


@pytest.mark.parametrize("mode", ["refused", "lost"])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_stopped_at_any_write_every_existing_alarm_is_known_and_exit_5_lists_what_landed(
        registry: Registry, scenario: str, mode: str) -> None:
    """GIVEN the live state before an apply WHEN write N fails (refused, or landed with its response lost) THEN
    every alarm in CloudWatch is named by the registry parameter; `applied` is exactly the writes that landed
    (re-observed), `pending` the rest, and "nothing was applied" is said only when nothing was; a rerun
    converges. (Before: alarms were created before the registry parameter that names them, and a landed call
    was reported as "nothing was applied".)"""
    before, after = _files(registry, scenario)
    with mock_aws():
        clients = RecordingClients(region="us-east-1")
        if before is not None:
            apply_registry(clients, before)
        clients.calls.clear()
        apply_registry(clients, after)
        total = len(clients.writes)
    with mock_aws():
        clients = RecordingClients(region="us-east-1")
        for n in range(1, total + 1):
            moto_api_backend.reset()
            clients.calls.clear()
            clients.fail_write = clients.lose_write = None
            if before is not None:
                apply_registry(clients, before)
            clients.calls.clear()
            if mode == "refused":
                clients.fail_write = n
            else:
                clients.lose_write = n
            with pytest.raises(PartialApply) as info:
                apply_registry(clients, after)
            clients.fail_write = clients.lose_write = None
            assert owned_alarms(clients) <= known_to_the_handler(clients), (scenario, mode, n)
            landed = n if mode == "lost" else n - 1
            assert len(info.value.applied) == landed, (n, info.value.applied)
            assert len(info.value.applied) + len(info.value.pending) == total, n
            assert not info.value.uncertain
            assert ("nothing was applied" in info.value.what) == (landed == 0), (n, info.value.what)
            if mode == "lost":
                assert "that call did land" in info.value.what
            apply_registry(clients, after)
            assert pending_changes(clients, after) == [], n


def test_when_aws_cannot_be_re_read_after_a_failure_the_failed_call_is_unknown_not_unapplied(
        registry: Registry) -> None:
    with mock_aws():
        probe = RecordingClients(region="us-east-1")
        apply_registry(probe, registry)
        first_write = probe.calls.index(probe.writes[0]) + 1
    with mock_aws():
        # the first write fails, and so does the first read of the re-observation right after it
        clients = RecordingClients(region="us-east-1", fail_write=1, fail_call=first_write + 1)
        with pytest.raises(PartialApply) as info:
            apply_registry(clients, registry)
    assert info.value.applied == [] and info.value.uncertain == ["create topic voice-m2-engineering"]
    assert "whether that call landed is unknown" in info.value.what
    assert "nothing was applied" not in info.value.what
