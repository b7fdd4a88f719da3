"""Resource Groups Tagging API adapter: find the resources a namespace owns by tag, in one paginated call."""

from __future__ import annotations

from typing import Any

from control_plane.aws.session import aws_call


def tagged_arns(client: Any, resource_type: str, key: str, value: str) -> list[str]:
    """ARNs of `resource_type` (e.g. "cloudwatch:alarm", "sns:topic") tagged key=value, sorted."""
    arns: list[str] = []
    with aws_call("tag:GetResources"):
        for page in client.get_paginator("get_resources").paginate(
            ResourceTypeFilters=[resource_type], TagFilters=[{"Key": key, "Values": [value]}]
        ):
            arns += [m["ResourceARN"] for m in page.get("ResourceTagMappingList", [])]
    return sorted(arns)
