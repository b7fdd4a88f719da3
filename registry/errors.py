"""The product's errors: a small hierarchy of facts, shared by every layer.

An error says what went wrong (`what`, one sentence of fact), where (`where`: a file:line, an SSM parameter, a
setting) and which value (`value`), plus the fields its kind needs. It never says what to type next and carries
no exit code: `cli/errors.py` turns each class into a message, a next command and an exit code, and each Lambda
handler turns it into its result (STYLE.md #8 and #14). Raise with `from` the cause.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

MAX_SHOWN = 60  # characters of a user's value quoted in a message: a 900 KB value must not become 6,000 copies


def shown(value: object, limit: int = MAX_SHOWN) -> str:
    """`repr(value)` for a message, cut to about `limit` characters with the full size said (a 5,000-digit number
    or a megabyte string is quoted by its start)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        text = repr(value)
        return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"
    if isinstance(value, int):
        try:
            text = str(value)
        except ValueError:  # past Python's int-to-text limit (4,300 digits): say its size instead
            return f"a number of about {int(value.bit_length() * 0.30103):,} digits"
        return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} digits)"
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value):,} characters)"


def clipped(text: str, limit: int = 200) -> str:
    """`text` (an exception's words, which may quote the whole input) cut to `limit` characters."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


class VoiceRolloutError(Exception):
    """Base of every error a person can act on: `what` happened, `where`, the `value` at fault, and what was
    `expected` instead (a fact about the format or the choices, e.g. 'one JSON object per line'; never what to
    run: next commands are cli/errors.py's)."""

    def __init__(self, what: str, *, where: str | None = None, value: object = None,
                 expected: str | None = None) -> None:
        super().__init__(what)
        self.what = what
        self.where = where
        self.value = value
        self.expected = expected


class InvalidInput(VoiceRolloutError):
    """A file, value or setting given to the product is wrong."""


@dataclass(frozen=True, order=True)
class Location:
    """A place in a source file (1-based line and column), printed as file:line:column."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Diagnostic:
    """One finding in a registry file: an error (the file is rejected) or a warning (legal but suspicious).
    `hint` is the fix in the file itself ("quote it", "did you mean 'p95'?")."""

    location: Location
    message: str
    severity: str = "error"  # "error" | "warning"
    hint: str | None = None

    def __str__(self) -> str:
        text = f"{self.location}: {self.severity}: {self.message}"
        return f"{text} (fix: {self.hint})" if self.hint else text


class RegistryInvalid(InvalidInput):
    """The registry file has one or more errors; every finding (warnings too) is in `diagnostics`."""

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        self.diagnostics = list(diagnostics)
        errors = [d for d in self.diagnostics if d.severity == "error"]
        file = errors[0].location.file if errors else None
        super().__init__(f"{len(errors)} error(s) in {file or 'the registry'}", where=file)

    @property
    def file(self) -> str | None:
        return self.where


class InputRefused(InvalidInput):
    """An input file (`where`) refused before it is parsed: unreadable, not a regular file, too large, not UTF-8.
    `reason` is the refusal without the file ("No such file or directory"); `what` the sentence."""

    def __init__(self, reason: str, *, where: str, unreadable: bool = False, value: object = None) -> None:
        super().__init__(f"cannot read the file: {reason}" if unreadable else reason, where=where, value=value)
        self.reason = reason


class ConfigInvalid(InvalidInput):
    """A deployed component's setting (an environment variable, a parameter it reads) is missing or wrong;
    `where` names the setting."""


class NothingApplied(VoiceRolloutError):
    """No registry is applied under `namespace` (no `<namespace>/registry` parameter)."""

    def __init__(self, namespace: str) -> None:
        super().__init__(f"nothing is applied under {namespace} (no registry parameter)", where=namespace)
        self.namespace = namespace


class UsageError(VoiceRolloutError):
    """The request cannot be done as asked (it names something that does not exist, or contradicts itself)."""


class UnknownName(UsageError):
    """A name that is not there: `kind` ('phase', 'variant', 'path', ...), the `value`, and the `choices`."""

    def __init__(self, kind: str, value: str | None, choices: Sequence[str], *, what: str | None = None) -> None:
        super().__init__(what or f"unknown {kind} {shown(value)}", value=value)
        self.kind = kind
        self.choices = tuple(choices)


class StepProblem(StrEnum):
    """Why a requested phase move is not a move the rollout can make (cli/errors.py words each)."""

    NO_PHASES = "no_phases"
    PATH_ELSEWHERE = "path_branches_elsewhere"  # the path branches from a phase that is not the active one
    NOT_PATH_START = "not_first_phase_of_path"
    LAST_PHASE = "last_phase"
    OTHER_SEQUENCE = "other_sequence"
    NOT_AFTER = "not_after_current"  # an advance to a phase that is not ahead
    ACTIVE_UNKNOWN = "active_phase_unknown"  # the active phase is not in the applied registry
    ACTIVE_NOT_IN_FILE = "active_phase_not_in_file"  # ... nor in the registry file given
    ALREADY_ACTIVE = "already_active"
    IS_ADVANCE = "is_an_advance"  # a rollback to a phase that is ahead
    ORIGIN_UNKNOWN = "path_origin_unknown"
    FIRST_PHASE = "first_phase"


class StepRefused(UsageError):
    """A phase move the rollout's topology does not allow; the fields say which phases are involved."""

    def __init__(self, problem: StepProblem, what: str, *, current: str | None = None, target: str | None = None,
                 path: str | None = None, expected: str | None = None, choices: Sequence[str] = ()) -> None:
        super().__init__(what, value=target, expected=expected)  # expected: the phase accepted instead, if any
        self.problem = problem
        self.current = current
        self.target = target
        self.path = path
        self.choices = tuple(choices)


class MissingReason(UsageError):
    """An action that goes to the audit log was asked for without a reason; `action` names it."""

    def __init__(self, action: str) -> None:
        super().__init__(f"{action} needs a reason")
        self.action = action


class GuardRefused(VoiceRolloutError):
    """A guarded action was refused because a condition does not hold yet; `could_pass_at` when only time stands
    in the way (ISO 8601), else None: a person must act."""

    def __init__(self, what: str, *, could_pass_at: str | None = None) -> None:
        super().__init__(what)
        self.could_pass_at = could_pass_at


class AwsProblem(StrEnum):
    ACCESS_DENIED = "access_denied"
    NO_CREDENTIALS = "no_credentials"
    UNREACHABLE = "endpoint_unreachable"
    FAILED = "failed"


class AwsError(VoiceRolloutError):
    """An AWS call failed in a way a person must act on; `action` is the IAM action (e.g. ssm:PutParameter)."""

    def __init__(self, what: str, *, action: str, problem: AwsProblem, code: str | None = None) -> None:
        super().__init__(what, where=action)
        self.action = action
        self.problem = problem
        self.code = code  # the AWS error code, when AWS answered


class PartialApply(VoiceRolloutError):
    """apply stopped part-way at `failed`: `applied` and `pending` say exactly what was and was not written,
    `uncertain` the failed call when AWS could not be re-read to tell whether it landed; `cause` is the AWS error
    that stopped it."""

    def __init__(self, what: str, *, failed: str, applied: Sequence[str], pending: Sequence[str],
                 cause: AwsError, uncertain: Sequence[str] = ()) -> None:
        super().__init__(what, where=failed)
        self.failed = failed
        self.applied = list(applied)
        self.pending = list(pending)
        self.uncertain = list(uncertain)
        self.cause = cause
