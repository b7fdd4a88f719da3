"""Live state in SSM Parameter Store: the thin boto3 shell over registry.live_state.

Every function takes an SSM client (never builds one) and turns AWS failures into AwsError via
control_plane.aws.session. Each writer owns its own parameter (DESIGN.md), so most writes are plain overwrites.
Where two writers do share one (a person and the revert handler both write `overrides/<variant>`), SSM offers no
conditional PutParameter, so `put_checked` re-reads before writing (refusing if the version moved) and, after,
compares the version it got with the one it decided on: anything written in between is returned, so the caller
can put back what must not be lost (a revert). Creating with Overwrite=False is SSM's one atomic primitive
(ParameterAlreadyExists refuses the second creator): `create_value` uses it for claims.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from control_plane.aws.session import aws_call, error_code
from registry.errors import GuardRefused
from registry.live_state import LiveState, OverrideRecord, live_state_from_parameters, param_override

STANDARD_TIER_LIMIT = 4096


@dataclass(frozen=True)
class StoredParameter:
    """One parameter as SSM returns it: the value and the version it is at (what a checked write is based on)."""

    name: str
    value: str
    version: int
    type: str = "String"
    modified: datetime | None = None


class ConcurrentChange(GuardRefused):
    """A parameter changed between the read a decision was based on and the write: the decision is stale."""

    def __init__(self, name: str, *, expected: int | None, found: int | None, detail: str = "") -> None:
        what = f"version {found}" if found is not None else "deleted"
        based = f"version {expected}" if expected is not None else "its absence"
        super().__init__(f"{name} changed while this was decided (based on {based}, now {what})"
                         + (f": {detail}" if detail else ""))
        self.name, self.based_on, self.found, self.detail = name, expected, found, detail


def _stored(param: dict[str, Any]) -> StoredParameter:
    return StoredParameter(param["Name"], param["Value"], int(param.get("Version", 0)), param.get("Type", "String"),
                           param.get("LastModifiedDate"))


def read_namespace_parameters(ssm: Any, namespace: str) -> dict[str, StoredParameter]:
    """Every parameter under `namespace` with its version, in one paginated GetParametersByPath batch."""
    path = namespace.rstrip("/") or "/"
    found: dict[str, StoredParameter] = {}
    with aws_call("ssm:GetParametersByPath"):
        paginator = ssm.get_paginator("get_parameters_by_path")
        for page in paginator.paginate(Path=path, Recursive=True, WithDecryption=True):
            for param in page.get("Parameters", []):
                found[param["Name"]] = _stored(param)
    return found


def read_namespace(ssm: Any, namespace: str) -> dict[str, str]:
    """Every parameter under `namespace` as {name: value}, in one paginated GetParametersByPath batch.

    This is the runtime's one read per cache period, so it must not issue a call per parameter.
    """
    return {name: p.value for name, p in read_namespace_parameters(ssm, namespace).items()}


def read_live_state(ssm: Any, namespace: str) -> LiveState:
    """The parsed live state of `namespace` (malformed values are skipped and named in `problems`)."""
    return live_state_from_parameters(namespace.rstrip("/"), read_namespace(ssm, namespace))


def _put_args(name: str, value: str, description: str, type_: str) -> dict[str, Any]:
    tier = "Standard" if len(value.encode()) <= STANDARD_TIER_LIMIT else "Advanced"
    kwargs: dict[str, Any] = {"Name": name, "Value": value, "Type": type_, "Tier": tier}
    if description:
        kwargs["Description"] = description[:1024]
    return kwargs


def put_value(ssm: Any, name: str, value: str, *, description: str = "", type_: str = "String") -> int:
    """Overwrite parameter `name` with the string `value`; returns the new Version."""
    with aws_call("ssm:PutParameter"):
        response = ssm.put_parameter(**_put_args(name, value, description, type_), Overwrite=True)
    return int(response["Version"])


def create_value(ssm: Any, name: str, value: str, *, description: str = "") -> int | None:
    """Create `name` only if it does not exist (Overwrite=False); None when it already does. Of any number of
    concurrent creators exactly one succeeds: SSM refuses the others with ParameterAlreadyExists."""
    try:
        with aws_call("ssm:PutParameter"):
            response = ssm.put_parameter(**_put_args(name, value, description, "String"), Overwrite=False)
    except Exception as exc:
        if error_code(exc.__cause__ or exc) == "ParameterAlreadyExists":
            return None
        raise
    return int(response["Version"])


def get_parameter(ssm: Any, name: str) -> StoredParameter | None:
    """One parameter with its version and type, or None if it does not exist."""
    try:
        with aws_call("ssm:GetParameter"):
            response = ssm.get_parameter(Name=name, WithDecryption=True)
    except Exception as exc:
        if error_code(exc.__cause__ or exc) == "ParameterNotFound":
            return None
        raise
    return _stored(response["Parameter"])


@dataclass(frozen=True)
class CheckedWrite:
    """A write and what others wrote between the version it was based on and it (oldest first)."""

    version: int
    intervening: tuple[ParameterVersion, ...] = ()


def require_version(ssm: Any, name: str, based_on: int | None) -> StoredParameter | None:
    """Re-read `name` and raise ConcurrentChange unless it is still at `based_on` (None: still absent)."""
    now = get_parameter(ssm, name)
    if (now.version if now else None) != based_on:
        raise ConcurrentChange(name, expected=based_on, found=now.version if now else None)
    return now


def put_checked(ssm: Any, name: str, value: str, *, based_on: int | None, description: str = "",
                type_: str = "String") -> CheckedWrite:
    """Write `value` over version `based_on` of `name` (None: the parameter did not exist).

    Refuses (ConcurrentChange) when a re-read shows the version moved. SSM has no conditional put, so a write can
    still land between that re-read and this one: the versions between `based_on` and ours are returned in
    `intervening`, for the caller to restore what it must not lose. (A delete in between restarts the numbering:
    then every version before ours is intervening.)
    """
    require_version(ssm, name, based_on)
    version = put_value(ssm, name, value, description=description, type_=type_)
    if version == (based_on or 0) + 1:
        return CheckedWrite(version)
    low = based_on if based_on is not None and version > based_on else 0
    others = tuple(v for v in parameter_versions(ssm, name) if low < v.version < version)
    return CheckedWrite(version, others)


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
    found = get_parameter(ssm, name)
    return found.value if found else None


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
