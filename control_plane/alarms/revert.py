"""The revert decision, pure: (alarm transition, compiled registry, existing overrides, now) -> ordered effects.

Order matters and is fixed: every override first (the part that protects users), then the notification,
then stopping the CodeDeploy deployment. The shell (handler.py) runs the effects in this order and never
undoes an override because a later effect failed.

Rules:
* Only a transition to ALARM acts; OK and INSUFFICIENT_DATA never do (and nothing is ever un-reverted here:
  a person clears an override with `voicectl override clear <variant>`).
* An alarm the compiled registry does not name is rejected (it may belong to another registry), and so is an
  event from another account or region than the handler's own, unless a setting allows that source.
* Every target gets a WriteOverride effect; running it writes only when the variant is not already at 0 with this
  alarm recorded (so a redelivery adds no SSM version, and a second alarm reverting the same variant is recorded).
* Which effects already ran for this transition (a redelivery, concurrent deliveries) is the ledger's business
  (ledger.py): each effect has a `key`, and the handler runs only the keys not done.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from control_plane.alarms.events import AlarmTransition
from registry.compiled import CompiledRegistry
from registry.live_state import OverrideRecord, RevertMark

ACTOR = "revert-handler"
SUBJECT_LIMIT = 100  # SNS rejects longer subjects
MARK_REASON_LIMIT = 300  # each alarm's mark in an override; several must fit SSM's 4 KB standard tier


class Verdict(StrEnum):
    REVERT = "revert"  # effects to run
    IGNORED = "ignored"  # OK / INSUFFICIENT_DATA
    UNKNOWN_ALARM = "unknown_alarm"  # not an alarm of this registry


@dataclass(frozen=True)
class WriteOverride:
    record: OverrideRecord

    @property
    def key(self) -> str:
        return f"override:{self.record.variant}"


@dataclass(frozen=True)
class Notify:
    topic: str
    subject: str
    message: str

    @property
    def key(self) -> str:
        return f"notify:{self.topic}"


@dataclass(frozen=True)
class StopDeployment:
    application: str
    deployment_group: str

    @property
    def key(self) -> str:
        return f"stop:{self.application}/{self.deployment_group}"


Effect = WriteOverride | Notify | StopDeployment


@dataclass(frozen=True)
class RevertPlan:
    alarm: str
    verdict: Verdict
    effects: tuple[Effect, ...] = ()
    notes: tuple[str, ...] = ()  # what was deliberately not done, and why

    @property
    def overrides(self) -> tuple[OverrideRecord, ...]:
        return tuple(e.record for e in self.effects if isinstance(e, WriteOverride))


def _already_zero(record: OverrideRecord | None) -> bool:
    return record is not None and record.share == 0


def source_refusal(transition: AlarmTransition, *, account: str, region: str,
                   allowed: frozenset[str] = frozenset()) -> str | None:
    """Why an event is refused for its source, or None. The handler serves its own account and region; `allowed`
    adds `ACCOUNT:REGION` sources (`ACCOUNT:*` for every region of an account)."""
    got_account, got_region = transition.account, transition.region
    if not got_account or not got_region:
        return (f"the event does not say which account and region {transition.alarm_name} belongs to "
                f"(account {got_account or '?'}, region {got_region or '?'}): refused")
    if (got_account, got_region) == (account, region):
        return None
    if f"{got_account}:{got_region}" in allowed or f"{got_account}:*" in allowed:
        return None
    return (f"the event comes from account {got_account} region {got_region}, not this handler's "
            f"({account} {region}): refused (allow it with VOICE_ALLOWED_SOURCES={got_account}:{got_region})")


def _message(transition: AlarmTransition, registry: CompiledRegistry, written: list[str],
             already: list[str], rollback: StopDeployment | None, notes: list[str]) -> str:
    lines = [f"{transition.alarm_name} is ALARM: {transition.reason or '(no reason given)'}"]
    if written:
        lines.append(f"Reverted to 0%: {', '.join(written)}. Their traffic goes to the other variants, "
                     f"or to the baseline {registry.baseline}, within one cache period "
                     f"({registry.cache_ttl_seconds} s).")
    if already:
        lines.append(f"Already at 0%: {', '.join(already)}.")
    if rollback:
        lines.append(f"CodeDeploy: stopping the active deployment of {rollback.application}/"
                     f"{rollback.deployment_group} with automatic rollback.")
    lines.extend(notes)
    reverted = written + already
    if reverted:
        lines.append("Nothing reverts back on its own. When it is safe: "
                     + "; ".join(f"voicectl override clear {v} --reason '...'" for v in reverted))
    return "\n".join(lines)


def plan_revert(transition: AlarmTransition, registry: CompiledRegistry, overrides: Mapping[str, OverrideRecord],
                *, now: datetime, deployment: tuple[str, str] | None = None) -> RevertPlan:
    """Decide what an alarm transition does. `deployment` (application, group) overrides the registry's."""
    name = transition.alarm_name
    if not transition.reverts:
        return RevertPlan(name, Verdict.IGNORED, notes=(f"state {transition.state.value} never reverts",))
    alarm = registry.alarms.get(name)
    if alarm is None:
        known = ", ".join(sorted(registry.alarms)) or "none"
        return RevertPlan(name, Verdict.UNKNOWN_ALARM,
                          notes=(f"alarm {name!r} is not in the compiled registry (known: {known})",))
    notes: list[str] = []
    targets = []
    for variant in alarm.revert:
        if variant not in registry.variants:
            notes.append(f"{variant} is not a variant of the compiled registry; not written")
        elif variant == registry.baseline:
            notes.append(f"{variant} is the baseline; the baseline is never forced to 0")
        else:
            targets.append(variant)
    reason = f"{name} ALARM: {transition.reason}".strip()
    written = [v for v in targets if not _already_zero(overrides.get(v))]
    already = [v for v in targets if _already_zero(overrides.get(v))]
    mark = RevertMark(alarm=name, at=transition.timestamp, reason=reason[:MARK_REASON_LIMIT])
    effects: list[Effect] = [
        WriteOverride(OverrideRecord(variant=v, share=0, source="alarm", actor=ACTOR, alarm=name,
                                     reason=reason[:1000], at=now, reverts=(mark,)))
        for v in targets
    ]
    rollback = None
    if alarm.rollback_deployment:
        app, group = deployment or (registry.deployment_application, registry.deployment_group)
        if app and group:
            rollback = StopDeployment(app, group)
        else:
            notes.append("rollback_deployment is set but no CodeDeploy application/deployment group is configured")
    if alarm.notify and (targets or rollback):
        subject = f"voice-rollout: {name} ALARM" + (f", reverted {', '.join(targets)}" if targets else "")
        message = _message(transition, registry, written, already, rollback, notes)
        effects.extend(Notify(topic, subject[:SUBJECT_LIMIT], message) for topic in alarm.notify)
    if rollback:
        effects.append(rollback)
    return RevertPlan(name, Verdict.REVERT, tuple(effects), tuple(notes))
