"""Overrides: parsing `variant=share`, the person's record, the audit entry of a clear, and the runbook map's clear.

People and the revert handler write `overrides/<variant>`; the on-call's runbook map is `variant_overrides`.
A clear deletes an override, and SSM then drops its history, so every clear is first written to `rollout/audit`
(whose versions keep it). The runbook map is never deleted: clearing writes an empty map over it, so the
parameter keeps its type and the memo's runbook command (`aws ssm put-parameter ... --overwrite`, no `--type`,
which real SSM refuses only when creating a parameter) keeps working for the next emergency.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from control_plane.aws import live_store
from control_plane.aws.live_store import ConcurrentChange, ParameterVersion
from registry.compiled import CompiledRegistry
from registry.errors import UsageError
from registry.live_state import LiveState, OverrideRecord, param_runbook, parse_runbook_map

EMPTY_MAP = "{}"


def param_audit(namespace: str) -> str:
    """Where actions that delete a parameter leave their trace (live_state_from_parameters ignores it)."""
    return f"{namespace}/rollout/audit"


class AuditRecord(BaseModel):
    """One `rollout/audit` version: an action whose own parameter was deleted."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    action: Literal["override clear", "runbook clear"]
    target: str
    actor: str
    reason: str = ""
    at: datetime
    was: str = ""


def parse_assignment(text: str, registry: CompiledRegistry | None) -> tuple[str, int]:
    """`sonic-unified=0` -> ("sonic-unified", 0); the variant must exist and the share be 0..100."""
    variant, sep, share_text = text.partition("=")
    variant = variant.strip()
    if not sep or not variant:
        raise UsageError(f"expected VARIANT=SHARE, got {text!r}", hint="e.g. voicectl override set sonic-unified=0")
    try:
        share = int(share_text.strip().rstrip("%"))
    except ValueError as exc:
        raise UsageError(f"share {share_text!r} is not a whole percent", hint="e.g. sonic-unified=0") from exc
    if not 0 <= share <= 100:
        raise UsageError(f"share {share} must be between 0 and 100", hint="e.g. sonic-unified=0")
    if registry is not None and variant not in registry.variants:
        raise UsageError(f"unknown variant {variant!r}", hint=f"variants: {', '.join(sorted(registry.variants))}")
    return variant, share


def person_override(variant: str, share: int, *, actor: str, reason: str, at: datetime) -> OverrideRecord:
    if not reason.strip():
        raise UsageError("an override needs a reason", hint="add --reason '...': it goes into the audit log")
    return OverrideRecord(variant=variant, share=share, source="person", actor=actor, reason=reason, at=at)


def describe_override(record: OverrideRecord) -> str:
    who = f"alarm {record.alarm}" if record.source == "alarm" and record.alarm else f"{record.source} {record.actor}"
    return f"{record.variant}={record.share}% by {who} at {record.at.isoformat()}: {record.reason or '-'}"


def clearable(state: LiveState, variant: str | None) -> list[str]:
    """The variants whose `overrides/<variant>` a clear deletes; UsageError for a variant without one."""
    if variant is None:
        return sorted(state.overrides)
    if variant not in state.overrides:
        active = ", ".join(sorted(state.overrides)) or "none"
        raise UsageError(f"no override is set for {variant!r}", hint=f"active overrides: {active}")
    return [variant]


def runbook_pins_left(state: LiveState, cleared: Iterable[str]) -> list[str]:
    """Cleared variants the runbook map still pins (the clear alone does not give them traffic back)."""
    return sorted(v for v in cleared if v in state.runbook)


def is_empty_map(value: str) -> bool:
    """True for a runbook map that pins nothing (what `runbook clear` leaves)."""
    try:
        return parse_runbook_map(value) == {}
    except ValueError:
        return False


@dataclass(frozen=True)
class RunbookClear:
    """What `runbook clear` did: the map it replaced (None: nothing was set) and the version it wrote."""

    was: str | None
    version: int | None = None


def clear_runbook_map(ssm: Any, namespace: str, *, actor: str, reason: str, at: datetime) -> RunbookClear:
    """Replace the runbook map by an empty one, of the same type, checked against the version it was read at.
    The audit entry is written first (it restarts the bake), so a clear never happens without its trace.

    Raises ConcurrentChange when another map was written meanwhile (an emergency revert racing the clear): that
    map is put back first, so an emergency is never undone by a clear that did not see it.
    """
    name = param_runbook(namespace)
    current = live_store.get_parameter(ssm, name)
    if current is None or is_empty_map(current.value):
        return RunbookClear(None)
    live_store.put_record(ssm, param_audit(namespace), AuditRecord(
        action="runbook clear", target="variant_overrides", actor=actor, reason=reason, at=at, was=current.value),
        description="cleared variant_overrides")
    write = live_store.put_checked(ssm, name, EMPTY_MAP, based_on=current.version, type_=current.type,
                                   description=f"runbook clear by {actor}: {reason}")
    if write.intervening:
        newest: ParameterVersion = write.intervening[-1]
        live_store.put_value(ssm, name, newest.value, type_=current.type,
                             description=f"restored after a concurrent clear: {newest.description}")
        raise ConcurrentChange(name, expected=current.version, found=newest.version,
                               detail=f"another runbook map was written meanwhile ({json.dumps(newest.value)}); "
                                      "it is restored and stays active")
    return RunbookClear(current.value, write.version)
