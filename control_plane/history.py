"""History (pure): SSM parameter versions of the live-state parameters turned into one sorted audit log.

SSM parameter history is the audit log (DESIGN.md). Limits worth knowing: SSM keeps the last 100 versions of a
parameter and drops all history of a deleted one; clears are therefore also written to `rollout/audit`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from pydantic import ValidationError

from control_plane.alarms.ledger import param_ledger
from control_plane.aws.live_store import ParameterVersion
from control_plane.overrides import AuditRecord, marks_of, param_audit
from registry.live_state import (
    ApprovalRecord,
    DeprecationRecord,
    OverrideRecord,
    PhaseRecord,
    param_approval,
    param_deprecation,
    param_override,
    param_phase,
    param_runbook,
    parse_runbook_map,
)


@dataclass(frozen=True)
class Event:
    at: datetime
    parameter: str
    version: int
    actor: str
    action: str
    detail: str
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {"at": self.at.isoformat(), "parameter": self.parameter, "version": self.version,
                "actor": self.actor, "action": self.action, "detail": self.detail, "reason": self.reason}


def _user(version: ParameterVersion) -> str:
    # The IAM ARN's last part is the person or role; good enough when the value names no actor (raw aws CLI).
    return version.user.rsplit("/", 1)[-1] if version.user else "unknown"


def to_event(namespace: str, version: ParameterVersion) -> Event:
    """One parameter version -> one event; a value that does not parse is still listed, as such."""
    name, value = version.name, version.value

    def event(at: datetime, actor: str, action: str, detail: str, reason: str) -> Event:
        return Event(at, name, version.version, actor, action, detail, reason)

    try:
        if name == param_phase(namespace):
            p = PhaseRecord.model_validate_json(value)
            move = f"{p.previous} -> {p.phase}" if p.previous else p.phase
            return event(p.at, p.actor, p.action, move + (f" (path {p.path})" if p.path else ""), p.reason)
        if name.startswith(param_override(namespace, "")):
            o = OverrideRecord.model_validate_json(value)
            if o.source == "alarm":
                return event(o.at, f"alarm {o.alarm or '?'}", "revert", f"{o.variant}={o.share}%", o.reason)
            return event(o.at, o.actor, "override set", f"{o.variant}={o.share}%", o.reason)
        if name == param_runbook(namespace):
            pins = parse_runbook_map(value)
            detail = ", ".join(f"{k}={v}%" for k, v in sorted(pins.items())) or "empty: nothing pinned"
            return event(version.modified, _user(version), "runbook map", detail, version.description)
        if name.startswith(param_approval(namespace, "")):
            a = ApprovalRecord.model_validate_json(value)
            return event(a.at, a.by, "approve", f"{a.phase} {a.approval} score {a.score:g}", a.note)
        if name.startswith(param_deprecation(namespace, "")):
            d = DeprecationRecord.model_validate_json(value)
            return event(d.at, d.actor, "deprecate", d.variant, d.reason)
        if name == param_audit(namespace):
            r = AuditRecord.model_validate_json(value)
            return event(r.at, r.actor, r.action, r.target + (f" (was {r.was})" if r.was else ""), r.reason)
    except (ValidationError, ValueError, json.JSONDecodeError) as exc:
        return event(version.modified, _user(version), "unparsed value",
                     f"{value[:80]!r}: {str(exc).splitlines()[0]}", version.description)
    return event(version.modified, _user(version), "write", value[:80], version.description)


def cleared_rows(namespace: str, version: ParameterVersion) -> list[Event]:
    """The rows a cleared override had in its own (deleted) history, from the audit entry that kept it whole: one
    `revert` row per alarm that reverted the variant, or the person's `override set`."""
    if version.name != param_audit(namespace):
        return []
    try:
        record = AuditRecord.model_validate_json(version.value).record
    except (ValidationError, ValueError):
        return []
    if record is None:
        return []
    name = param_override(namespace, record.variant)
    if record.source != "alarm":
        return [Event(record.at, name, 0, record.actor, "override set", f"{record.variant}={record.share}%",
                      record.reason)]
    marks = marks_of(record)
    return [Event(m.at, name, 0, f"alarm {alarm}", "revert", f"{record.variant}={record.share}%",
                  m.reason or record.reason) for alarm, m in sorted(marks.items())]


def merge_history(namespace: str, versions: Iterable[ParameterVersion]) -> list[Event]:
    """Every version of every parameter as events, oldest first (ties in parameter, version order); a cleared
    override's revert keeps its own row (SSM deleted its history; the audit entry kept the record)."""
    # Records carry the writer's clock; SSM's own write time breaks ties in the order writes really landed.
    versions = list(versions)
    live = {(e.parameter, e.at, e.action) for e in (to_event(namespace, v) for v in versions)}
    keyed = [(to_event(namespace, v), v.modified) for v in versions]
    keyed += [(row, v.modified) for v in versions for row in cleared_rows(namespace, v)
              if (row.parameter, row.at, row.action) not in live]
    keyed.sort(key=lambda pair: (pair[0].at, pair[1], pair[0].parameter, pair[0].version))
    return [event for event, _ in keyed]


def history_parameters(namespace: str, names: Iterable[str]) -> list[str]:
    """Which of the existing parameter names carry audit history (everything but the compiled registry and the
    revert handler's ledger, whose effects show as the overrides it wrote)."""
    registry, ledger = f"{namespace}/registry", param_ledger(namespace) + "/"
    always = [param_phase(namespace), param_runbook(namespace), param_audit(namespace)]
    return sorted(set(always) | {n for n in names if n != registry and not n.startswith(ledger)})
