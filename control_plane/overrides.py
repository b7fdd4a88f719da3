"""Overrides (pure): parsing `variant=share`, building the person's record, and the audit entry of a clear.

People and the revert handler write `overrides/<variant>`; the on-call's runbook map is `variant_overrides`.
Each writer overwrites only its own parameter, so concurrent writers never lose one another's update. A clear
deletes the parameter, and SSM then drops its history, so every clear is also written to `rollout/audit`
(whose versions keep it).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

from registry.compiled import CompiledRegistry
from registry.errors import MissingReason, UnknownName, UsageError, shown
from registry.live_state import LiveState, OverrideRecord


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
        raise UsageError(f"expected VARIANT=SHARE, got {shown(text)}", value=text)
    try:
        share = int(share_text.strip().rstrip("%"))
    except ValueError as exc:
        raise UsageError(f"share {shown(share_text)} is not a whole percent", value=text) from exc
    if not 0 <= share <= 100:
        raise UsageError(f"share {share} must be between 0 and 100", value=text)
    if registry is not None and variant not in registry.variants:
        raise UnknownName("variant", variant, sorted(registry.variants))
    return variant, share


def person_override(variant: str, share: int, *, actor: str, reason: str, at: datetime) -> OverrideRecord:
    if not reason.strip():
        raise MissingReason("an override")
    return OverrideRecord(variant=variant, share=share, source="person", actor=actor, reason=reason, at=at)


def describe_override(record: OverrideRecord) -> str:
    who = f"alarm {record.alarm}" if record.source == "alarm" and record.alarm else f"{record.source} {record.actor}"
    return f"{record.variant}={record.share}% by {who} at {record.at.isoformat()}: {record.reason or '-'}"


def clearable(state: LiveState, variant: str | None) -> list[str]:
    """The variants whose `overrides/<variant>` a clear deletes; UsageError for a variant without one."""
    if variant is None:
        return sorted(state.overrides)
    if variant not in state.overrides:
        raise UnknownName("override", variant, sorted(state.overrides),
                          what=f"no override is set for {shown(variant)}")
    return [variant]


def runbook_pins_left(state: LiveState, cleared: Iterable[str]) -> list[str]:
    """Cleared variants the runbook map still pins (the clear alone does not give them traffic back)."""
    return sorted(v for v in cleared if v in state.runbook)
