"""voicectl wiring: one typer app, one module per command group, errors mapped to exit codes once, here."""

from __future__ import annotations

import sys

import typer

from cli import (
    alarms_commands,
    apply_commands,
    demo,
    infra_commands,
    local_commands,
    registry_commands,
    rollout_commands,
    runtime_commands,
)
from cli.output import Output
from registry.errors import PartialApply, RegistryInvalid, VoiceCtlError

app = typer.Typer(
    name="voicectl",
    help="Roll voice traffic out phase by phase, let alarms revert a bad variant, and run the on-call runbook.\n\n"
    "Start with: voicectl validate examples/voice-m2.yaml, then voicectl explain examples/voice-m2.yaml.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="markdown",
)
app.command()(registry_commands.validate)
app.command("compile")(registry_commands.compile_cmd)
app.command()(registry_commands.explain)
app.command()(registry_commands.schema)
app.command()(registry_commands.cost)
# One module per command group; each attaches its own commands (keeps this wiring file free of logic).
for group in (apply_commands, rollout_commands, alarms_commands, runtime_commands, infra_commands, demo,
              local_commands):
    group.register(app)


def main() -> None:
    """Console entry point: runs the app and turns a VoiceCtlError into a message and its exit code."""
    try:
        app()
    except RegistryInvalid as exc:
        # The diagnostics were already printed line by line by the command.
        Output().error(f"{exc.message}; {exc.hint}")
        sys.exit(exc.exit_code)
    except PartialApply as exc:
        out = Output()
        out.error(exc.message)
        for item in exc.applied:
            out.err.print(f"  applied: {item}")
        for item in exc.uncertain:
            out.err.print(f"  UNKNOWN (AWS could not be re-read): {item}")
        for item in exc.pending:
            out.err.print(f"  NOT applied: {item}")
        out.hint(f"next step: {exc.hint}")
        sys.exit(exc.exit_code)
    except VoiceCtlError as exc:
        out = Output()
        out.error(exc.message)
        if exc.hint:
            out.hint(f"next step: {exc.hint}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        Output().error("interrupted")
        sys.exit(130)
