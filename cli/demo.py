"""voicectl demo: what `make demo` runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.output import Output
from cli.registry_commands import _load_or_raise, render_explanation
from control_plane.compiler import compile_plan

EXAMPLE = Path("examples/voice-m2.yaml")


def demo(
    file: Annotated[Path, typer.Option("--file", help="Registry to demonstrate.")] = EXAMPLE,
) -> None:
    """Validate, compile and explain the example registry (the embedded-stack canary grows here)."""
    out = Output()
    registry = _load_or_raise(file, out)
    out.show(f"[green]✓[/green] {file} is valid")
    plan = compile_plan(registry)
    out.show(f"[green]✓[/green] compiled: {len(plan.parameters)} parameter(s), {len(plan.alarms)} alarm(s), "
             f"{len(plan.topics)} topic(s), digest {plan.compiled.digest}")
    render_explanation(registry, plan, out)


def register(app: typer.Typer) -> None:
    app.command()(demo)
