"""The one place errors become words: each error class -> a message, a next command and an exit code.

The core raises structured errors (registry/errors.py: what, where, which value); this module alone knows
voicectl's commands and flags, so a next step always names a command that exists. Exit codes (README "The CLI"):
0 ok, 1 invalid input, 2 usage, 3 guard refused, 4 AWS error, 5 partial apply. Commands raise `CommandError`
for refusals that are theirs (a missing --reason, a failed load test): those carry CLI words already.
(Modelled on huggingface_hub's errors.py vs cli/_errors.py.)
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, NoReturn

from cli.output import Output
from control_plane.aws.live_store import ConcurrentChange
from control_plane.compiler import ParameterTooLarge
from control_plane.diff import OwnershipConflict
from control_plane.overrides import AlarmStillFiring, RevertInProgress, RevertLanded, RevertReplaced
from registry.errors import (
    AwsError,
    AwsProblem,
    ConfigInvalid,
    GuardRefused,
    InputRefused,
    InvalidInput,
    MissingReason,
    NothingApplied,
    PartialApply,
    RegistryInvalid,
    StepProblem,
    StepRefused,
    UnknownName,
    UsageError,
    VoiceRolloutError,
)


class ExitCode(IntEnum):
    OK = 0
    INVALID_INPUT = 1
    USAGE = 2
    GUARD_REFUSED = 3
    AWS = 4
    PARTIAL_APPLY = 5
    INTERRUPTED = 130


class CommandError(VoiceRolloutError):
    """A refusal a command makes itself (its own option rules, a failed demo): the words are already the CLI's."""

    def __init__(self, what: str, *, next_step: str | None = None, exit_code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(what)
        self.next_step = next_step
        self.exit_code = exit_code


@dataclass(frozen=True)
class Report:
    """What the CLI prints for an error: the message, detail lines under it, the next step, the exit code."""

    message: str
    next_step: str | None
    exit_code: ExitCode
    details: list[str] = field(default_factory=list)


# --- exit codes, by class (the nearest class in the error's MRO wins) -----------------------------------------------

EXIT_CODES: dict[type[VoiceRolloutError], ExitCode] = {
    VoiceRolloutError: ExitCode.INVALID_INPUT,
    InvalidInput: ExitCode.INVALID_INPUT,
    UsageError: ExitCode.USAGE,
    GuardRefused: ExitCode.GUARD_REFUSED,
    AwsError: ExitCode.AWS,
    PartialApply: ExitCode.PARTIAL_APPLY,
}


# --- next steps --------------------------------------------------------------------------------------------------

def _aws(exc: AwsError) -> str:
    return {
        AwsProblem.ACCESS_DENIED: f"grant the caller permission for {exc.action}, or use a profile that has it",
        AwsProblem.NO_CREDENTIALS: "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or start the "
                                   "embedded stack: voicectl local up)",
        AwsProblem.UNREACHABLE: "check --endpoint-url / AWS_ENDPOINT_URL, or start the embedded stack: "
                                "voicectl local up",
        AwsProblem.FAILED: "rerun; if it persists, check the AWS service health",
    }[exc.problem]


def _rerun(command: Sequence[str], fallback: str) -> str:
    return "voicectl " + shlex.join(command) if command else fallback


def _partial(exc: PartialApply, command: Sequence[str]) -> str:
    # Access denied needs a fix before the rerun; anything else (throttling past the retries, a 5xx) is fixed
    # by the rerun itself.
    rerun = f"rerun {_rerun(command, 'voicectl apply FILE')}: it converges"
    return f"{_aws(exc.cause)}; then {rerun}" if exc.cause.problem is AwsProblem.ACCESS_DENIED else rerun


def _listed(names: Sequence[str]) -> str:
    return ", ".join(names) or "none"


def _unknown(exc: UnknownName, command: Sequence[str]) -> str:
    choices = f"{exc.kind}s: {_listed(exc.choices)}"
    how = _NAME_OPTIONS.get(exc.kind)
    return f"{how} ({choices})" if how else choices


# How a command takes each kind of name, where it is an option rather than an argument.
_NAME_OPTIONS = {"approval gate": "name one with --approval NAME"}


def _step(exc: StepRefused, command: Sequence[str]) -> str:
    p, target, expected = exc.problem, exc.target, exc.expected
    return {
        StepProblem.NO_PHASES: "add phases: to the file and apply it: voicectl apply FILE",
        StepProblem.PATH_ELSEWHERE: f"advance to {expected} first (voicectl advance --to {expected}), or roll back "
                                    f"to it (voicectl rollback --to {expected})",
        StepProblem.NOT_PATH_START: f"run: voicectl advance --path {exc.path} --to {expected}",
        StepProblem.LAST_PHASE: "see the decommission steps that are due: voicectl status",
        StepProblem.OTHER_SEQUENCE: "take an alternative path at its decision gate: voicectl advance --path NAME "
                                    f"(paths: {_listed(exc.choices)})",
        StepProblem.NOT_AFTER: f"to go back, run: voicectl rollback --to {target}",
        StepProblem.ACTIVE_UNKNOWN: f"roll back to a known phase: voicectl rollback --to PHASE "
                                    f"(phases: {_listed(exc.choices)})",
        StepProblem.ACTIVE_NOT_IN_FILE: "pass the applied registry file",
        StepProblem.ALREADY_ACTIVE: "see the live state: voicectl status",
        StepProblem.IS_ADVANCE: f"run: voicectl advance --to {target}",
        StepProblem.ORIGIN_UNKNOWN: "pass the registry FILE, or --to PHASE",
        StepProblem.FIRST_PHASE: "to take all traffic off a variant now, run: voicectl runbook emergency-revert "
                                 "--reason '...'",
    }[p]


def _guard(exc: GuardRefused, command: Sequence[str]) -> str:
    if exc.could_pass_at:
        return f"it could pass at {exc.could_pass_at}"
    return "fix the conditions above; or override with --force --reason '...'"


def _registry(exc: RegistryInvalid, command: Sequence[str]) -> str:
    target = shlex.quote(exc.file) if exc.file else "FILE"
    return f"fix the lines listed above, then run: voicectl validate {target}"


def _config(exc: ConfigInvalid, command: Sequence[str]) -> str:
    return f"set {exc.where} to {exc.expected}" if exc.expected else f"fix {exc.where}"


def _expected(exc: VoiceRolloutError, command: Sequence[str]) -> str | None:
    return f"expected {exc.expected}" if exc.expected else None


NextStep = Callable[[Any, Sequence[str]], str | None]
NEXT_STEPS: dict[type[VoiceRolloutError], NextStep] = {
    VoiceRolloutError: _expected,
    CommandError: lambda exc, _: exc.next_step,
    RegistryInvalid: _registry,
    ConfigInvalid: _config,
    NothingApplied: lambda exc, _: "apply this namespace's registry first: voicectl apply FILE",
    UnknownName: _unknown,
    StepRefused: _step,
    MissingReason: lambda exc, _: "add --reason '...': it goes to the audit log",
    GuardRefused: _guard,
    AwsError: lambda exc, _: _aws(exc),
    PartialApply: _partial,
    OwnershipConflict: lambda exc, _: f"rename them in the file, or remove them from the other registry and its "
                                      f"{exc.tag} tag first",
    ParameterTooLarge: lambda exc, _: "split the registry (fewer phases or paths per file) or shorten descriptions",
    ConcurrentChange: lambda exc, _: "read the live state again (voicectl status) and decide again",
    RevertReplaced: lambda exc, _: "clear the revert once the alarm is OK, or replace it with --force --reason '...'",
    RevertLanded: lambda exc, _: "read the live state again (voicectl status) and decide again",
    RevertInProgress: lambda exc, _: "wait a few seconds, then read the live state again: voicectl status",
    AlarmStillFiring: lambda exc, _: "wait for the alarm to return to OK (voicectl alarms list), or clear with "
                                     "--force --reason '...'",
}


def _nearest(table: dict[type[VoiceRolloutError], Any], exc: VoiceRolloutError) -> Any:
    return next(table[cls] for cls in type(exc).__mro__ if cls in table)


def report(exc: VoiceRolloutError, command: Sequence[str] = ()) -> Report:
    """The message, next step and exit code for `exc`; `command` is the voicectl command line that failed
    (without `voicectl`), for next steps that say "rerun it"."""
    code = exc.exit_code if isinstance(exc, CommandError) else _nearest(EXIT_CODES, exc)
    next_step = _nearest(NEXT_STEPS, exc)(exc, command)
    details: list[str] = []
    if isinstance(exc, PartialApply):
        details = ([f"  applied: {item}" for item in exc.applied]
                   + [f"  UNKNOWN (AWS could not be re-read): {item}" for item in exc.uncertain]
                   + [f"  NOT applied: {item}" for item in exc.pending])
    message = f"{exc.where}: {exc.what}" if isinstance(exc, InputRefused) else exc.what
    return Report(message, next_step, code, details)


def fail(exc: VoiceRolloutError, out: Output, command: Sequence[str] = ()) -> NoReturn:
    """Print `exc` for a person (an invalid registry's findings first, each at its line) and exit with its code."""
    if isinstance(exc, RegistryInvalid):
        for d in exc.diagnostics:
            out.diagnostic(d)
    shown = report(exc, command)
    out.error(shown.message)
    for line in shown.details:
        out.err.print(line, markup=False, highlight=False)
    if shown.next_step:
        out.hint(f"next step: {shown.next_step}")
    sys.exit(shown.exit_code)
