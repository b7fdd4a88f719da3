"""SSM adapter for plan/apply: read the parameters apply owns, write one of them. Takes a boto3 SSM client.

Only names the caller passes are read or written; other writers' parameters (phase, overrides...) are never
listed, so apply cannot even see them, let alone overwrite them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from control_plane.aws.session import aws_call
from control_plane.compiler import ParameterSpec
from control_plane.diff import ObservedParameter

GET_BATCH = 10  # GetParameters and DescribeParameters' Name filter take at most 10 names


def _tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(tags.items())]


def read_parameters(client: Any, names: Iterable[str]) -> dict[str, ObservedParameter]:
    """The named parameters that exist, with value, tier, description and tags."""
    wanted = sorted(set(names))
    found: dict[str, dict[str, Any]] = {}
    for i in range(0, len(wanted), GET_BATCH):
        batch = wanted[i:i + GET_BATCH]
        with aws_call("ssm:GetParameters"):
            for p in client.get_parameters(Names=batch)["Parameters"]:
                found[p["Name"]] = {"value": p["Value"], "type": p.get("Type", "String")}
        if not any(n in found for n in batch):
            continue
        with aws_call("ssm:DescribeParameters"):
            pages = client.get_paginator("describe_parameters").paginate(
                ParameterFilters=[{"Key": "Name", "Option": "Equals", "Values": batch}])
            for page in pages:
                for meta in page["Parameters"]:
                    if meta["Name"] in found:
                        found[meta["Name"]]["tier"] = meta.get("Tier", "Standard")
                        found[meta["Name"]]["description"] = meta.get("Description", "")
    out: dict[str, ObservedParameter] = {}
    for name, attrs in sorted(found.items()):
        with aws_call("ssm:ListTagsForResource"):
            tags = client.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"]
        out[name] = ObservedParameter(
            name=name, value=attrs["value"], type=attrs["type"], tier=attrs.get("tier", "Standard"),
            description=attrs.get("description", ""), tags={t["Key"]: t["Value"] for t in tags})
    return out


def put_parameter(client: Any, spec: ParameterSpec, *, tier: str, tags: Mapping[str, str] | None) -> None:
    """One PutParameter: with tags when creating; SSM forbids Tags with Overwrite, so an update overwrites
    the value alone (tag it with add_tags)."""
    args: dict[str, Any] = {"Name": spec.name, "Value": spec.value, "Type": spec.type, "Tier": tier,
                            "Description": spec.description}
    if tags is None:
        args["Overwrite"] = True
    else:
        args["Tags"] = _tag_list(tags)
    client.put_parameter(**args)


def add_tags(client: Any, name: str, tags: Mapping[str, str]) -> None:
    client.add_tags_to_resource(ResourceType="Parameter", ResourceId=name, Tags=_tag_list(tags))
