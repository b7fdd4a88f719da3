"""The revert handler's ledger (pure): what each alarm transition's effects have done, kept in SSM.

One ALARM transition plans effects (overrides, pages, deployment stops; revert.py). CloudWatch, SNS, EventBridge
and Lambda's own retries may deliver it several times, at once or later, and any AWS call may fail or land with
its response lost. The ledger makes each effect run once per transition and a redelivery finish what failed:

    <namespace>/reverts/<alarm key>/<transition key>/<attempt>    (value: LedgerEntry JSON)

Why this shape: SSM has no compare-and-swap on PutParameter, but creating a parameter with Overwrite=False is
atomic: of any number of concurrent creators exactly one succeeds and the others get ParameterAlreadyExists
(AWS's documented refusal: "The parameter already exists. You can't create duplicate parameters."). So a delivery
*claims* the transition by creating attempt 1; whoever gets ParameterAlreadyExists knows another delivery owns it.
Only the owner ever writes its attempt afterwards (progress after each effect, then `finished`), so those plain
overwrites race with nobody. A redelivery reads every attempt: effects done in any attempt are never repeated;
when the last attempt finished with failures, or its owner is silent for longer than the lease (a Lambda that
timed out: the lease exceeds the function's timeout), it claims attempt n+1 the same atomic way and runs only what
is not done. A concurrent delivery that finds a live owner does nothing (`in_progress`): the owner's own retries
(Lambda retries a failed asynchronous invocation twice) finish the job.

The ledger lives under the namespace, which every runtime reads in one batch, so old entries are deleted: an
alarm keeps its newest transition (to recognise a late redelivery of an older one) and anything younger than the
retention (longer than any redelivery: Lambda gives up on an event after at most 6 h).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

LEASE = timedelta(seconds=45)  # > the revert function's 30 s timeout: a silent owner older than this is dead
RETENTION = timedelta(hours=24)
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def param_ledger(namespace: str) -> str:
    """The root of the ledger (`voicectl apply` never touches it; runtimes ignore it)."""
    return f"{namespace}/reverts"


def alarm_key(alarm: str, source: str = "") -> str:
    """A parameter-name-safe key for an alarm (and, for an allowed foreign source, its account and region)."""
    text = f"{alarm}@{source}" if source else alarm
    safe = _SAFE.sub("_", text)[:200]
    return safe if safe == text else f"{safe}.{hashlib.sha256(text.encode()).hexdigest()[:8]}"


def transition_key(at: datetime) -> str:
    """`2026-11-25T16:10:00.512Z` -> `20261125T161000512Z`: the transition's state timestamp, which the three
    deliveries of one state change all carry."""
    at = at.astimezone(UTC)
    return at.strftime("%Y%m%dT%H%M%S") + f"{at.microsecond // 1000:03d}Z"


def param_attempt(namespace: str, alarm: str, at: datetime, attempt: int, source: str = "") -> str:
    return f"{param_ledger(namespace)}/{alarm_key(alarm, source)}/{transition_key(at)}/{attempt}"


class Outcome(StrEnum):
    DONE = "done"
    FAILED = "failed"


class EffectRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    outcome: Outcome
    at: datetime
    detail: str = ""


class LedgerEntry(BaseModel):
    """One attempt at one transition's effects: who owns it, what it planned, what each effect did."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    alarm: str
    transition_at: datetime
    attempt: int = Field(ge=1)
    owner: str
    state: Literal["running", "finished"] = "running"
    at: datetime  # the owner's last word: a running entry silent for longer than LEASE has a dead owner
    planned: tuple[str, ...] = ()
    effects: dict[str, EffectRecord] = Field(default_factory=dict)

    def with_effect(self, key: str, outcome: Outcome, detail: str, at: datetime) -> LedgerEntry:
        return self.model_copy(update={"effects": {**self.effects, key: EffectRecord(outcome=outcome, at=at,
                                                                                      detail=detail[:300])},
                                       "at": at})

    def live(self, now: datetime, lease: timedelta = LEASE) -> bool:
        """True while the owner may still be running an effect."""
        return self.state == "running" and now - self.at < lease


@dataclass(frozen=True)
class Stored:
    """A ledger parameter: its name, SSM version and parsed entry (None when it does not parse)."""

    name: str
    version: int
    entry: LedgerEntry | None


def ledger_entries(namespace: str, parameters: Mapping[str, tuple[str, int]]) -> list[Stored]:
    """The ledger's parameters among `{name: (value, version)}` (one namespace read), oldest attempt first."""
    prefix = param_ledger(namespace) + "/"
    out = []
    for name, (value, version) in sorted(parameters.items()):
        if not name.startswith(prefix):
            continue
        try:
            entry: LedgerEntry | None = LedgerEntry.model_validate_json(value)
        except (ValidationError, ValueError):
            entry = None  # read as nothing done: at worst an effect runs twice, never zero times
        out.append(Stored(name, version, entry))
    return sorted(out, key=lambda s: (s.name.rsplit("/", 1)[0], _attempt_of(s.name)))


def _attempt_of(name: str) -> int:
    tail = name.rsplit("/", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class Turn(StrEnum):
    CLAIM = "claim"  # claim attempt `attempt` and run what is not done
    IN_PROGRESS = "in_progress"  # another delivery owns the transition and is alive
    COMPLETE = "complete"  # every planned effect is done
    SUPERSEDED = "superseded"  # a newer transition of the same alarm was handled: this one is stale


@dataclass(frozen=True)
class Next:
    turn: Turn
    attempt: int = 0
    done: frozenset[str] = frozenset()
    owner: str = ""


def next_turn(stored: Iterable[Stored], *, namespace: str, alarm: str, at: datetime, planned: Iterable[str],
              now: datetime, source: str = "", lease: timedelta = LEASE) -> Next:
    """What a delivery of (alarm, at) does next, from the ledger (see the module docstring)."""
    here = f"{param_ledger(namespace)}/{alarm_key(alarm, source)}/"
    mine = f"{here}{transition_key(at)}/"
    attempts = [s for s in stored if s.name.startswith(mine)]
    newer = [s for s in stored if s.name.startswith(here) and not s.name.startswith(mine)
             and s.entry is not None and s.entry.transition_at > at]
    done = frozenset(k for s in attempts if s.entry for k, e in s.entry.effects.items() if e.outcome is Outcome.DONE)
    if not attempts and newer:
        return Next(Turn.SUPERSEDED, done=done)
    if set(planned) <= done and attempts:
        return Next(Turn.COMPLETE, done=done)
    last = attempts[-1] if attempts else None
    if last is not None and last.entry is not None and last.entry.live(now, lease):
        return Next(Turn.IN_PROGRESS, done=done, owner=last.entry.owner)
    return Next(Turn.CLAIM, attempt=(_attempt_of(last.name) if last else 0) + 1, done=done)


def expired(stored: Iterable[Stored], *, now: datetime, retention: timedelta = RETENTION) -> list[str]:
    """Ledger parameters to delete: older than `retention`, except every attempt of each alarm's newest
    transition (so a late redelivery of an older transition is still recognised as superseded)."""
    by_alarm: dict[str, list[Stored]] = {}
    for s in stored:
        alarm_dir = s.name.rsplit("/", 2)[0]
        by_alarm.setdefault(alarm_dir, []).append(s)
    doomed = []
    for entries in by_alarm.values():
        newest = max(s.name.rsplit("/", 1)[0] for s in entries)
        doomed += [s.name for s in entries if s.name.rsplit("/", 1)[0] != newest
                   and (s.entry is None or now - s.entry.at > retention)]
    return sorted(doomed)


def touching(stored: Iterable[Stored], key: str) -> list[Stored]:
    """Entries that plan effect `key` (e.g. `override:sonic-unified`)."""
    return [s for s in stored if s.entry is not None and key in s.entry.planned]
