"""One output object for every command: data on stdout (rich for people, JSON with --json), hints on stderr."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console


class Output:
    def __init__(self, *, json_mode: bool = False) -> None:
        self.json_mode = json_mode
        self.out = Console(soft_wrap=True, highlight=False)
        self.err = Console(stderr=True, soft_wrap=True, highlight=False)

    def data(self, payload: Any) -> None:
        """Machine-readable result: JSON on stdout."""
        sys.stdout.write(json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")

    def show(self, renderable: Any) -> None:
        if not self.json_mode:
            self.out.print(renderable)

    def hint(self, text: str) -> None:
        self.err.print(f"[dim]{text}[/dim]")

    def error(self, text: str) -> None:
        self.err.print(f"[bold red]error:[/bold red] {text}")

    def warning(self, text: str) -> None:
        self.err.print(f"[yellow]warning:[/yellow] {text}")
