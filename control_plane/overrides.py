"""Overrides: what a person and the revert handler may write to `overrides/<variant>`, and how a clear goes.

People and the revert handler both write `overrides/<variant>` (the on-call's runbook map is `variant_overrides`).
Nothing a person does may silently lose a revert:

* every write and delete is checked against the version it was decided on (live_store.put_checked: re-read and
  refuse on change; after the write, anything that landed in between is looked at, and a revert is put back);
* an alarm's revert is replaced by a person's override only with --force and a reason;
* an override records every alarm that reverted its variant (`reverts`), and a clear checks all of them, says
  whether each alarm's OK rests on data or only on missing data (basis.py), and needs a reason;
* a clear writes `rollout/audit` first (SSM drops a deleted parameter's history; the audit keeps the whole record,
  so `history` still shows the revert), then re-reads, then deletes; a revert the handler claimed meanwhile
  (its ledger, control_plane.alarms.ledger) is put back.

The runbook map is never deleted: clearing writes an empty map over it, so the parameter keeps its type and the
memo's runbook command (`aws ssm put-parameter ... --overwrite`, no `--type`, which real SSM refuses only when
creating a parameter) keeps working for the next emergency.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from control_plane.alarms.basis import Basis, Judgement, judge
from control_plane.alarms.ledger import Stored, ledger_entries, param_ledger, touching
from control_plane.aws import live_store
from control_plane.aws.live_store import ConcurrentChange, ParameterVersion, StoredParameter
from control_plane.aws.metrics_source import alarm_snapshots
from registry.compiled import CompiledRegistry
from registry.errors import GuardRefused, MissingReason, UnknownName, UsageError, shown
from registry.live_state import (
    LiveState,
    OverrideRecord,
    RevertMark,
    live_state_from_parameters,
    param_override,
    param_runbook,
    parse_runbook_map,
)

EMPTY_MAP = "{}"
WRITE_ROUNDS = 5  # a checked revert write that keeps meeting concurrent writers gives up folding after this


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
    record: OverrideRecord | None = None  # the cleared override whole, so history keeps its revert rows
    version: int | None = None  # the version of it that was cleared


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
    """The variants whose `overrides/<variant>` a clear deletes (malformed ones too); UsageError for a variant
    without one."""
    present = set(state.overrides) | set(state.unreadable_overrides)
    if variant is None:
        return sorted(present)
    if variant not in present:
        raise UnknownName("override", variant, sorted(present), what=f"no override is set for {shown(variant)}")
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


# --- reverts and person's overrides on the same parameter ------------------------------------------------------

class RevertReplaced(GuardRefused):
    """A person's override would replace an alarm's revert: refused without --force and a reason."""

    def __init__(self, variant: str, alarms: list[str]) -> None:
        super().__init__(f"{variant} is reverted by alarm {', '.join(alarms)}: a person's override would replace "
                         "the revert, and nothing would revert the variant again while the alarm stays in ALARM")
        self.variant, self.alarms = variant, alarms


class RevertLanded(GuardRefused):
    """A revert landed while a person's write or clear was under way; it was put back and the action refused."""

    def __init__(self, variant: str, alarms: list[str], action: str) -> None:
        super().__init__(f"alarm {', '.join(alarms)} reverted {variant} while this {action} was under way: the revert "
                         f"is restored and {variant} stays at 0%")
        self.variant, self.alarms, self.action = variant, alarms, action


class AlarmStillFiring(GuardRefused):
    """A clear of a revert whose alarm is still in ALARM: CloudWatch acts on state changes only, so nothing would
    revert the variant again."""

    def __init__(self, alarms: list[str]) -> None:
        super().__init__(f"alarm {', '.join(alarms)} is still in ALARM: clearing its revert would send traffic back to "
                         "the variant and nothing would revert it again")
        self.alarms = alarms


class RevertInProgress(GuardRefused):
    """The revert handler is writing a revert of this variant right now."""

    def __init__(self, variant: str, alarms: list[str]) -> None:
        super().__init__(f"the revert handler is reverting {variant} right now (alarm {', '.join(alarms)})")
        self.variant, self.alarms = variant, alarms


def parse_record(value: str | None) -> OverrideRecord | None:
    """An override value, or None when absent or malformed."""
    if value is None:
        return None
    try:
        return OverrideRecord.model_validate_json(value)
    except ValueError:
        return None


def marks_of(record: OverrideRecord | None) -> dict[str, RevertMark]:
    """Every alarm's mark an override holds (records written before `reverts` existed name only `alarm`)."""
    if record is None or record.source != "alarm":
        return {}
    marks = {m.alarm: m for m in record.reverts}
    if record.alarm and record.alarm not in marks:
        marks[record.alarm] = RevertMark(alarm=record.alarm, at=record.at, reason=record.reason[:300])
    return marks


def merge_revert(current: OverrideRecord | None, revert: OverrideRecord) -> OverrideRecord | None:
    """The override a revert leaves: its variant at 0 with every alarm that reverted it recorded; None when
    `current` already says exactly that (nothing to write: a redelivery adds no SSM version)."""
    held, adding = marks_of(current), marks_of(revert)
    if current is not None and current.share == 0 and set(adding) <= set(held):
        return None
    marks = {**adding, **held}
    return revert.model_copy(update={"reverts": tuple(sorted(marks.values(), key=lambda m: (m.at, m.alarm)))})


def decide_set(current: OverrideRecord | None, *, force: bool, reason: str) -> None:
    """May a person's override replace `current`? Not an alarm's revert, unless forced with a reason."""
    if force and not reason.strip():
        raise MissingReason("replacing an alarm's revert")
    if current is not None and current.reverting_alarms and not force:
        raise RevertReplaced(current.variant, current.reverting_alarms)


def _describe(record: OverrideRecord) -> str:
    who = record.alarm if record.source == "alarm" and record.alarm else record.actor
    return f"{record.variant} forced to {record.share}% by {record.source} {who}"


def _alarm_records(versions: tuple[ParameterVersion, ...]) -> list[OverrideRecord]:
    return [r for v in versions if (r := parse_record(v.value)) is not None and r.reverting_alarms]


@dataclass(frozen=True)
class RevertWrite:
    version: int | None  # None: the override already held this revert
    folded: tuple[str, ...] = ()  # alarms of concurrent reverts folded into it


def ensure_revert(ssm: Any, namespace: str, revert: OverrideRecord, current: StoredParameter | None) -> RevertWrite:
    """Make `overrides/<variant>` hold `revert` (merged with what is there), checked against `current`.

    A concurrent writer between the read and the write is handled, never lost: a person's override is replaced
    (the revert wins), another alarm's revert is folded in and the merged record written again.
    """
    name = param_override(namespace, revert.variant)
    folded: list[str] = []
    version = None
    for _ in range(WRITE_ROUNDS):
        merged = merge_revert(parse_record(current.value if current else None), revert)
        if merged is None:
            return RevertWrite(version, tuple(folded))
        value = merged.model_dump_json(exclude_none=True)
        try:
            write = live_store.put_checked(ssm, name, value, based_on=current.version if current else None,
                                           description=_describe(merged))
        except ConcurrentChange:
            current = live_store.get_parameter(ssm, name)
            continue
        version = write.version
        others = {a: m for r in _alarm_records(write.intervening) for a, m in marks_of(r).items()}
        lost = {a: m for a, m in others.items() if a not in marks_of(merged)}
        if not lost:
            return RevertWrite(version, tuple(folded))
        folded += sorted(lost)
        revert = merged.model_copy(update={"reverts": tuple(sorted({**marks_of(merged), **lost}.values(),
                                                                  key=lambda m: (m.at, m.alarm)))})
        current = StoredParameter(name, value, write.version)
    return RevertWrite(version, tuple(folded))


@dataclass(frozen=True)
class SetOutcome:
    record: OverrideRecord
    version: int
    before: LiveState
    replaced: OverrideRecord | None  # the override this one replaced (a revert only with --force)
    overwritten: tuple[OverrideRecord, ...] = ()  # other people's overrides written meanwhile, now replaced


def set_override(ssm: Any, namespace: str, record: OverrideRecord, *, force: bool = False) -> SetOutcome:
    """Write a person's override, decided on the version read here and checked against it (see module doc)."""
    params = live_store.read_namespace_parameters(ssm, namespace)
    before = live_state_from_parameters(namespace, {n: p.value for n, p in params.items()})
    name = param_override(namespace, record.variant)
    stored = params.get(name)
    current = before.overrides.get(record.variant)
    decide_set(current, force=force, reason=record.reason)
    value = record.model_dump_json(exclude_none=True)
    write = live_store.put_checked(ssm, name, value, based_on=stored.version if stored else None,
                                   description=_describe(record))
    reverts = _alarm_records(write.intervening)
    if reverts:
        marks = {a: m for r in reverts for a, m in marks_of(r).items()}
        restore = reverts[-1].model_copy(update={"reverts": tuple(sorted(marks.values(), key=lambda m: m.at))})
        ensure_revert(ssm, namespace, restore, StoredParameter(name, value, write.version))
        raise RevertLanded(record.variant, sorted(marks), "override")
    people = tuple(r for v in write.intervening if (r := parse_record(v.value)) is not None)
    return SetOutcome(record, write.version, before, current, people)


# --- clear ---------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClearOutcome:
    cleared: list[str]
    judgements: list[Judgement]
    before: LiveState
    pinned_by_runbook: list[str]
    restored: dict[str, list[str]]  # variant -> alarms whose revert landed during the clear and was put back


def revert_times(records: Mapping[str, OverrideRecord | None]) -> dict[str, datetime]:
    """alarm -> when it (last) reverted one of `records`: the moment its datapoints are judged from."""
    times: dict[str, datetime] = {}
    for record in records.values():
        for alarm, mark in marks_of(record).items():
            times[alarm] = max(times.get(alarm, mark.at), mark.at)
    return times


def decide_clear(judgements: list[Judgement], *, force: bool, reason: str) -> None:
    """A clear of alarm reverts needs a reason, and one whose alarm is in ALARM also --force: CloudWatch acts on
    state changes only, so nothing would revert the variant again."""
    if force and not reason.strip():
        raise MissingReason("clearing a revert while its alarm fires")
    firing = [j.alarm for j in judgements if j.basis is Basis.FIRING]
    if firing and not force:
        raise AlarmStillFiring(firing)
    if judgements and not reason.strip():
        raise MissingReason("clearing an alarm's revert (say what was fixed)")


def _ledger(ssm: Any, namespace: str) -> list[Stored]:
    params = live_store.read_namespace_parameters(ssm, param_ledger(namespace))
    return ledger_entries(namespace, {n: (p.value, p.version) for n, p in params.items()})


def clear_overrides(ssm: Any, cloudwatch: Any, namespace: str, variant: str | None, *, actor: str, reason: str,
                    force: bool, at: datetime) -> ClearOutcome:
    """Clear `variant`'s override (None: every one) the safe way described in the module docstring."""
    params = live_store.read_namespace_parameters(ssm, namespace)
    before = live_state_from_parameters(namespace, {n: p.value for n, p in params.items()})
    targets = clearable(before, variant)
    records = {v: before.overrides.get(v) for v in targets}
    since = revert_times(records)
    snapshots = alarm_snapshots(cloudwatch, sorted(since)) if since else {}
    judgements = [judge(a, snapshots.get(a), t) for a, t in sorted(since.items())]
    decide_clear(judgements, force=force, reason=reason)
    ledger = ledger_entries(namespace, {n: (p.value, p.version) for n, p in params.items()})
    for name in targets:
        busy = [s.entry.alarm for s in touching(ledger, f"override:{name}") if s.entry and s.entry.live(at)]
        if busy:
            raise RevertInProgress(name, sorted(set(busy)))
    seen = {(s.name, s.version) for s in ledger}
    cleared: list[str] = []
    restored: dict[str, list[str]] = {}
    for name in targets:
        param = param_override(namespace, name)
        stored = params[param]
        live_store.require_version(ssm, param, stored.version)  # refuse on change
        record = records[name]
        live_store.put_record(ssm, param_audit(namespace), AuditRecord(
            action="override clear", target=name, actor=actor, reason=reason, at=at,
            was=describe_override(record) if record else stored.value[:200], record=record,
            version=stored.version), description=f"cleared {name}")
        live_store.delete_parameter(ssm, param)
        landed = [s.entry for s in touching(_ledger(ssm, namespace), f"override:{name}")
                  if s.entry and (s.name, s.version) not in seen]
        if landed:
            alarms = sorted({e.alarm for e in landed})
            ensure_revert(ssm, namespace, OverrideRecord(
                variant=name, share=0, source="alarm", actor=actor, alarm=alarms[-1], at=at,
                reason=f"{', '.join(alarms)} ALARM: restored, its revert landed while the override was cleared",
                reverts=tuple(RevertMark(alarm=e.alarm, at=e.transition_at) for e in landed)), None)
            restored[name] = alarms
        else:
            cleared.append(name)
    return ClearOutcome(cleared, judgements, before, runbook_pins_left(before, cleared), restored)


def internal_first_phase(registry: CompiledRegistry, phase: str, variant: str) -> str | None:
    """The nearest phase before `phase` that gives `variant` to internal callers only: the safer way back after
    a revert (internal subjects first), or None."""
    main = [p for p in registry.phases if p.path is None]
    names = [p.name for p in main]
    if phase not in names:
        return None
    for candidate in reversed(main[:names.index(phase)]):
        if candidate.weights.get(variant, 0) == 0 and (candidate.internal_weights or {}).get(variant, 0) > 0:
            return candidate.name
    return None
