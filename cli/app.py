"""voicectl wiring: one typer app, one module per command group; errors become words once, in cli.errors."""

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
from cli.errors import ExitCode, fail
from cli.output import Output
from registry.errors import VoiceRolloutError

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
    """Console entry point: runs the app; an error becomes its message, next step and exit code (cli.errors)."""
    try:
        app()
    except VoiceRolloutError as exc:
        fail(exc, Output(), sys.argv[1:])
    except KeyboardInterrupt:
        Output().error("interrupted")
        sys.exit(ExitCode.INTERRUPTED)
