"""SSM adapter: reads only the names asked for, writes with tags on create and overwrite on update."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from control_plane.aws import ssm
from control_plane.compiler import ParameterSpec
from registry.errors import AwsError, AwsProblem


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("ssm", region_name="us-east-1")


SPEC = ParameterSpec("/ns/registry", '{"a":1}', "Standard", "compiled registry")


def test_absent_parameter_reads_as_nothing(client: Any) -> None:
    assert ssm.read_parameters(client, ["/ns/registry"]) == {}


def test_create_then_read_back_with_tier_description_and_tags(client: Any) -> None:
    ssm.put_parameter(client, SPEC, tier="Standard", tags={"owner": "/ns"})
    (seen,) = ssm.read_parameters(client, ["/ns/registry"]).values()
    assert (seen.value, seen.tier, seen.description, seen.type, dict(seen.tags)) == (
        '{"a":1}', "Standard", "compiled registry", "String", {"owner": "/ns"})


def test_update_overwrites_value_keeps_tags_and_bumps_version(client: Any) -> None:
    ssm.put_parameter(client, SPEC, tier="Standard", tags={"owner": "/ns"})
    ssm.put_parameter(client, ParameterSpec("/ns/registry", '{"a":2}', "Standard", "d2"), tier="Advanced", tags=None)
    (seen,) = ssm.read_parameters(client, ["/ns/registry"]).values()
    assert (seen.value, seen.tier, seen.description, dict(seen.tags)) == ('{"a":2}', "Advanced", "d2",
                                                                          {"owner": "/ns"})
    assert client.get_parameter(Name="/ns/registry")["Parameter"]["Version"] == 2


def test_add_tags(client: Any) -> None:
    client.put_parameter(Name="/ns/registry", Value="x", Type="String")
    ssm.add_tags(client, "/ns/registry", {"owner": "/ns"})
    assert dict(ssm.read_parameters(client, ["/ns/registry"])["/ns/registry"].tags) == {"owner": "/ns"}


def test_reads_more_names_than_one_batch_and_nothing_else(client: Any) -> None:
    names = [f"/ns/p{i:02d}" for i in range(23)]
    for name in names:
        client.put_parameter(Name=name, Value=name, Type="String")
    client.put_parameter(Name="/ns/rollout/phase", Value="not asked for", Type="String")
    seen = ssm.read_parameters(client, names)
    assert sorted(seen) == names
    assert all(p.value == n for n, p in seen.items())


def test_read_failure_names_the_permission(client: Any) -> None:
    def deny(**_: Any) -> None:
        from botocore.exceptions import ClientError
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetParameters")

    client.meta.events.register("before-call.ssm.GetParameters", deny)
    with pytest.raises(AwsError, match="ssm:GetParameters") as info:
        ssm.read_parameters(client, ["/ns/registry"])
    assert (info.value.action, info.value.problem, info.value.code) == (
        "ssm:GetParameters", AwsProblem.ACCESS_DENIED, "AccessDeniedException")
