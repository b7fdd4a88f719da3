"""live_store against moto: one batch read, overwrite versions, delete, history."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from control_plane.aws import live_store
from registry.errors import AwsError
from registry.live_state import OverrideRecord, PhaseRecord, param_override, param_phase

NS = "/test/voice"
AT = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def ssm():  # type: ignore[no-untyped-def]
    with mock_aws():
        yield boto3.client("ssm", region_name="us-east-1")


def test_read_namespace_pages_through_everything_recursively(ssm) -> None:  # type: ignore[no-untyped-def]
    for i in range(23):  # more than one page (GetParametersByPath returns at most 10)
        ssm.put_parameter(Name=f"{NS}/overrides/v{i:02d}", Value=str(i), Type="String")
    ssm.put_parameter(Name=f"{NS}/registry", Value="r", Type="String")
    ssm.put_parameter(Name="/other/registry", Value="x", Type="String")
    values = live_store.read_namespace(ssm, NS)
    assert len(values) == 24
    assert values[f"{NS}/overrides/v07"] == "7"
    assert "/other/registry" not in values


def test_put_record_overwrites_and_returns_versions(ssm) -> None:  # type: ignore[no-untyped-def]
    first = live_store.put_record(ssm, param_phase(NS), PhaseRecord(phase="A", action="init", at=AT))
    second = live_store.put_record(ssm, param_phase(NS), PhaseRecord(phase="B", previous="A", at=AT))
    assert (first, second) == (1, 2)
    state = live_store.read_live_state(ssm, NS)
    assert state.phase is not None and state.phase.phase == "B" and state.phase.previous == "A"


def test_put_override_is_read_back_as_live_state(ssm) -> None:  # type: ignore[no-untyped-def]
    record = OverrideRecord(variant="sonic-unified", share=0, source="alarm", alarm="P95", at=AT)
    assert live_store.put_override(ssm, NS, record) == 1
    state = live_store.read_live_state(ssm, NS)
    assert state.overrides["sonic-unified"] == record
    described = ssm.describe_parameters()["Parameters"][0]
    assert "alarm P95" in described["Description"]


def test_delete_parameter_reports_whether_it_existed(ssm) -> None:  # type: ignore[no-untyped-def]
    ssm.put_parameter(Name=param_override(NS, "x"), Value="{}", Type="String")
    assert live_store.delete_parameter(ssm, param_override(NS, "x")) is True
    assert live_store.delete_parameter(ssm, param_override(NS, "x")) is False
    assert live_store.get_value(ssm, param_override(NS, "x")) is None


def test_parameter_history_oldest_first_and_empty_when_missing(ssm) -> None:  # type: ignore[no-untyped-def]
    for value in ("a", "b", "c"):
        live_store.put_value(ssm, f"{NS}/rollout/phase", value)
    history = live_store.parameter_history(ssm, f"{NS}/rollout/phase")
    assert [(v, val) for v, _, val in history] == [(1, "a"), (2, "b"), (3, "c")]
    assert all(isinstance(when, datetime) for _, when, _ in history)
    assert live_store.parameter_history(ssm, f"{NS}/missing") == []


def test_other_aws_failures_become_aws_error(ssm) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AwsError):
        live_store.put_value(ssm, "/aws/reserved-prefix", "v")  # SSM refuses names under /aws
