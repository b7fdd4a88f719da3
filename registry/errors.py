"""A small error hierarchy shared by every layer.

Each error carries what went wrong, where, and the next step, so the CLI can print one actionable message and
map the class to an exit code without matching strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class VoiceCtlError(Exception):
    """Base of every error a user can act on. `exit_code` is what the CLI returns for it."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


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
    """One finding in a registry file: an error (the file is rejected) or a warning (legal but suspicious)."""

    location: Location
    message: str
    severity: str = "error"  # "error" | "warning"
    hint: str | None = None

    def __str__(self) -> str:
        text = f"{self.location}: {self.severity}: {self.message}"
        return f"{text} (fix: {self.hint})" if self.hint else text


class RegistryInvalid(VoiceCtlError):
    """The registry file has one or more errors; all of them are in `diagnostics`."""

    exit_code = 1

    def __init__(self, diagnostics: Sequence[Diagnostic]) -> None:
        errors = [d for d in diagnostics if d.severity == "error"]
        super().__init__(
            f"{len(errors)} error(s) in registry", hint="fix the lines listed above and run voicectl validate"
        )
        self.diagnostics = list(diagnostics)


class UsageError(VoiceCtlError):
    """The command was called wrongly (unknown phase, bad flag value...)."""

    exit_code = 2


class GuardRefused(VoiceCtlError):
    """A guarded action (advance) was refused because a condition does not hold yet."""

    exit_code = 3


class AwsError(VoiceCtlError):
    """An AWS call failed in a way the user must act on (access denied, missing resource...)."""

    exit_code = 4


class PartialApply(VoiceCtlError):
    """apply stopped part-way; `applied` and `pending` say exactly what was and was not written, `uncertain`
    the failed call when AWS could not be re-read to tell whether it landed."""

    exit_code = 5

    def __init__(self, message: str, *, applied: Sequence[str], pending: Sequence[str], hint: str,
                 uncertain: Sequence[str] = ()) -> None:
        super().__init__(message, hint=hint)
        self.applied = list(applied)
        self.pending = list(pending)
        self.uncertain = list(uncertain)
