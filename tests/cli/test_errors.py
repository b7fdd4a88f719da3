"""cli.errors: every core error class becomes a message, a next command and the documented exit code; the core
itself carries no exit codes and no voicectl wording."""

from __future__ import annotations

import ast
import contextlib
import importlib
import inspect
import io
import pkgutil
from pathlib import Path

import pytest

from cli.errors import CommandError, ExitCode, fail, report
from cli.output import Output
from control_plane.compiler import ParameterTooLarge
from control_plane.diff import OwnershipConflict
from registry.errors import (
    AwsError,
    AwsProblem,
    ConfigInvalid,
    Diagnostic,
    GuardRefused,
    InputRefused,
    InvalidInput,
    Location,
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

ROOT = Path(__file__).resolve().parents[2]
CORE = ("registry", "control_plane", "voice_runtime", "infra", "embedded", "emulators")
DENIED = AwsError("access denied: ssm:PutParameter (no)", action="ssm:PutParameter",
                  problem=AwsProblem.ACCESS_DENIED, code="AccessDenied")


@pytest.mark.parametrize(("error", "code", "next_step"), [
    pytest.param(RegistryInvalid([Diagnostic(Location("f.yaml", 3, 1), "bad")]), 1,
                 "fix the lines listed above, then run: voicectl validate f.yaml", id="registry-invalid"),
    pytest.param(InvalidInput("h.csv:2: bad", expected="a number"), 1, "expected a number", id="invalid-input"),
    pytest.param(ConfigInvalid("VOICE_NAMESPACE is not set", where="VOICE_NAMESPACE", expected="/x/voice"), 1,
                 "set VOICE_NAMESPACE to /x/voice", id="config"),
    pytest.param(NothingApplied("/x/voice"), 1, "apply this namespace's registry first: voicectl apply FILE",
                 id="nothing-applied"),
    pytest.param(UnknownName("phase", "Nope", ["A", "B"]), 2, "phases: A, B", id="unknown-name"),
    pytest.param(UnknownName("approval gate", None, ["q"], what="phase P has approval gates: q"), 2,
                 "name one with --approval NAME (approval gates: q)", id="unknown-approval"),
    pytest.param(StepRefused(StepProblem.NOT_AFTER, "B is not after C", current="C", target="B"), 2,
                 "to go back, run: voicectl rollback --to B", id="step-not-after"),
    pytest.param(StepRefused(StepProblem.IS_ADVANCE, "C is after B", current="B", target="C"), 2,
                 "run: voicectl advance --to C", id="step-is-advance"),
    pytest.param(MissingReason("an override"), 2, "add --reason '...': it goes to the audit log", id="reason"),
    pytest.param(GuardRefused("refused", could_pass_at="2026-05-01T12:00:00+00:00"), 3,
                 "it could pass at 2026-05-01T12:00:00+00:00", id="guard-time"),
    pytest.param(GuardRefused("refused"), 3, "fix the conditions above; or override with --force --reason '...'",
                 id="guard-person"),
    pytest.param(DENIED, 4, "grant the caller permission for ssm:PutParameter, or use a profile that has it",
                 id="aws-denied"),
    pytest.param(PartialApply("apply stopped", failed="create x", applied=["a"], pending=["create x"],
                              cause=DENIED), 5,
                 "grant the caller permission for ssm:PutParameter, or use a profile that has it; then rerun "
                 "voicectl apply f.yaml --yes: it converges", id="partial-denied"),
    pytest.param(OwnershipConflict(["alarm A (owned by /o)"], tag="voice-rollout:namespace"), 1,
                 "rename them in the file, or remove them from the other registry and its voice-rollout:namespace "
                 "tag first", id="ownership"),
    pytest.param(ParameterTooLarge("/x/registry", 9000, 8192), 1,
                 "split the registry (fewer phases or paths per file) or shorten descriptions", id="too-large"),
    pytest.param(CommandError("no", next_step="do this", exit_code=ExitCode.GUARD_REFUSED), 3, "do this",
                 id="command-error"),
])
def test_each_error_gets_its_exit_code_and_next_step(error: VoiceRolloutError, code: int, next_step: str) -> None:
    shown = report(error, ["apply", "f.yaml", "--yes"])
    assert (shown.exit_code, shown.next_step) == (code, next_step)
    assert shown.message == error.what


@pytest.mark.parametrize("problem", list(StepProblem), ids=str)
def test_every_step_problem_has_a_next_step(problem: StepProblem) -> None:
    shown = report(StepRefused(problem, "x", current="A", target="B", path="p", expected="A0", choices=["p"]))
    assert shown.exit_code == ExitCode.USAGE and shown.next_step


@pytest.mark.parametrize("problem", list(AwsProblem), ids=str)
def test_every_aws_problem_has_a_next_step(problem: AwsProblem) -> None:
    shown = report(AwsError("x", action="ssm:GetParameters", problem=problem))
    assert shown.exit_code == ExitCode.AWS and shown.next_step


def test_a_partial_apply_lists_what_landed_and_reruns_the_same_command() -> None:
    cause = AwsError("throttled", action="cloudwatch:PutMetricAlarm", problem=AwsProblem.FAILED)
    shown = report(PartialApply("apply stopped at 'create alarm B'", failed="create alarm B",
                                applied=["create topic t"], pending=["create alarm B", "create parameter p"],
                                cause=cause), ["apply", "my file.yaml", "--yes"])
    assert shown.details == ["  applied: create topic t", "  NOT applied: create alarm B",
                             "  NOT applied: create parameter p"]
    assert shown.next_step == "rerun voicectl apply 'my file.yaml' --yes: it converges"


def test_an_invalid_registry_is_printed_finding_by_finding_then_summarised() -> None:
    diagnostics = [Diagnostic(Location("f.yaml", 2, 12), "namespace must be an SSM path", hint="add a '/'"),
                   Diagnostic(Location("f.yaml", 9, 3), "gates but no bake", "warning")]
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit) as done:
        fail(RegistryInvalid(diagnostics), Output())
    assert done.value.code == 1
    assert err.getvalue().splitlines() == [
        "f.yaml:2:12: error: namespace must be an SSM path (fix: add a '/')",
        "f.yaml:9:3: warning: gates but no bake",
        "error: 1 error(s) in f.yaml",
        "next step: fix the lines listed above, then run: voicectl validate f.yaml",
    ]


def test_a_refused_input_file_is_named_in_the_message() -> None:
    shown = report(InputRefused("the file is a FIFO (named pipe); a registry must be a regular file", where="p"))
    assert (shown.message, shown.exit_code) == ("p: the file is a FIFO (named pipe); a registry must be a regular "
                                                "file", ExitCode.INVALID_INPUT)


def _core_modules() -> list[str]:
    names = []
    for package in CORE:
        names.append(package)
        names += [m.name for m in pkgutil.walk_packages([str(ROOT / package)], prefix=f"{package}.")]
    return names


def test_no_core_error_class_carries_an_exit_code_or_a_next_step() -> None:
    found = []
    for name in _core_modules():
        if name.startswith(("infra",)):  # importing infra starts node (aws_cdk): read its source instead
            continue
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, VoiceRolloutError) and cls.__module__ == name:
                found.append(cls)
                assert "exit_code" not in vars(cls) and "hint" not in inspect.signature(cls).parameters, cls
    assert UsageError in found and len(found) >= 12


def test_no_core_raise_speaks_voicectl() -> None:
    """Next steps that name commands or flags belong to cli/errors.py: no `raise` in the core carries them."""
    offenders = []
    for package in CORE:
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Raise) and node.exc is not None:
                    words = [c.value for c in ast.walk(node.exc) if isinstance(c, ast.Constant)
                             and isinstance(c.value, str)]
                    if any("voicectl" in w or " --" in f" {w}" for w in words):
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
