"""Live state in SSM Parameter Store: the thin boto3 shell over registry.live_state.

Every function takes an SSM client (never builds one) and turns AWS failures into AwsError via
control_plane.aws.session. Each writer owns its own parameter (DESIGN.md), so writes are plain overwrites:
no read-modify-write, hence no lost update between the revert handler, people and `voicectl advance`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from control_plane.aws.session import aws_call, error_code
from registry.live_state import LiveState, OverrideRecord, live_state_from_parameters, param_override

STANDARD_TIER_LIMIT = 4096


def read_namespace(ssm: Any, namespace: str) -> dict[str, str]:
    """Every parameter under `namespace` as {name: value}, in one paginated GetParametersByPath batch.

    This is the runtime's one read per cache period, so it must not issue a call per parameter.
    """
    path = namespace.rstrip("/") or "/"
    values: dict[str, str] = {}
    with aws_call("ssm:GetParametersByPath"):
        paginator = ssm.get_paginator("get_parameters_by_path")
        for page in paginator.paginate(Path=path, Recursive=True, WithDecryption=True):
            for param in page.get("Parameters", []):
                values[param["Name"]] = param["Value"]
    return values


def read_live_state(ssm: Any, namespace: str) -> LiveState:
    """The parsed live state of `namespace` (malformed values are skipped and named in `problems`)."""
    return live_state_from_parameters(namespace.rstrip("/"), read_namespace(ssm, namespace))


def put_value(ssm: Any, name: str, value: str, *, description: str = "") -> int:
    """Overwrite parameter `name` with the string `value`; returns the new Version."""
    tier = "Standard" if len(value.encode()) <= STANDARD_TIER_LIMIT else "Advanced"
    kwargs: dict[str, Any] = {"Name": name, "Value": value, "Type": "String", "Overwrite": True, "Tier": tier}
    if description:
        kwargs["Description"] = description[:1024]
    with aws_call("ssm:PutParameter"):
        response = ssm.put_parameter(**kwargs)
    return int(response["Version"])


def put_record(ssm: Any, name: str, record: BaseModel, *, description: str = "") -> int:
    """Overwrite parameter `name` with the record's JSON; returns the new Version (the audit log's entry)."""
    return put_value(ssm, name, record.model_dump_json(exclude_none=True), description=description)


def put_override(ssm: Any, namespace: str, record: OverrideRecord) -> int:
    """Write `overrides/<variant>`: the variant's forced share, with the alarm or person that set it."""
    who = record.alarm if record.source == "alarm" and record.alarm else record.actor
    return put_record(
        ssm,
        param_override(namespace.rstrip("/"), record.variant),
        record,
        description=f"{record.variant} forced to {record.share}% by {record.source} {who}",
    )


def get_value(ssm: Any, name: str) -> str | None:
    """The value of one parameter, or None if it does not exist."""
    try:
        with aws_call("ssm:GetParameter"):
            response = ssm.get_parameter(Name=name, WithDecryption=True)
    except Exception as exc:
        if error_code(exc.__cause__ or exc) == "ParameterNotFound":
            return None
        raise
    return str(response["Parameter"]["Value"])


def delete_parameter(ssm: Any, name: str) -> bool:
    """Delete `name`; False if it did not exist (so clearing twice is not an error)."""
    try:
        with aws_call("ssm:DeleteParameter"):
            ssm.delete_parameter(Name=name)
    except Exception as exc:
        if error_code(exc.__cause__ or exc) == "ParameterNotFound":
            return False
        raise
    return True


@dataclass(frozen=True)
class ParameterVersion:
    """One stored version of a parameter, as GetParameterHistory returns it."""

    name: str
    version: int
    modified: datetime
    value: str
    user: str = ""
    description: str = ""


def parameter_versions(ssm: Any, name: str) -> list[ParameterVersion]:
    """Every stored version of `name`, oldest first, with who wrote it (IAM ARN) and its description; [] if the
    parameter does not exist. SSM keeps the last 100 versions and drops the history of a deleted parameter."""
    entries: list[ParameterVersion] = []
    try:
        with aws_call("ssm:GetParameterHistory"):
            paginator = ssm.get_paginator("get_parameter_history")
            for page in paginator.paginate(Name=name, WithDecryption=True):
                for item in page.get("Parameters", []):
                    entries.append(ParameterVersion(name, int(item["Version"]), item["LastModifiedDate"],
                                                    item["Value"], item.get("LastModifiedUser", ""),
                                                    item.get("Description", "")))
    except Exception as exc:
        if error_code(exc.__cause__ or exc) == "ParameterNotFound":
            return []
        raise
    return sorted(entries, key=lambda entry: entry.version)


def parameter_history(ssm: Any, name: str) -> list[tuple[int, datetime, str]]:
    """Every stored version of `name` as (version, modified, value), oldest first; [] if it does not exist."""
    return [(v.version, v.modified, v.value) for v in parameter_versions(ssm, name)]


def last_modified(ssm: Any, name: str) -> datetime | None:
    """When SSM says `name` was last written (server time), or None if it does not exist."""
    try:
        with aws_call("ssm:GetParameter"):
            response = ssm.get_parameter(Name=name)
    except Exception as exc:
        if error_code(exc.__cause__ or exc) == "ParameterNotFound":
            return None
        raise
    modified: datetime = response["Parameter"]["LastModifiedDate"]
    return modified
