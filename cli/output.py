"""One output object for every command: data on stdout (rich for people, JSON with --json), hints on stderr."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.text import Text

from registry.errors import Diagnostic


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

    # User text (file names, alarm names, reasons) may contain "[...]": build Text so rich never reads it as markup.
    def hint(self, text: str) -> None:
        self.err.print(Text(text, style="dim"))

    def error(self, text: str) -> None:
        self.err.print(Text.assemble(("error:", "bold red"), " ", text))

    def warning(self, text: str) -> None:
        self.err.print(Text.assemble(("warning:", "yellow"), " ", text))

    def diagnostic(self, d: Diagnostic) -> None:
        """One finding on stderr as `file:line:col: severity: message (fix: hint)`, colour on the severity only.

        Built as rich Text, never markup: messages quote the user's file, and a `[/x]` in it must print as written.
        """
        colour = "yellow" if d.severity == "warning" else "bold red"
        text = Text.assemble(f"{d.location}: ", (d.severity, colour), f": {d.message}")
        if d.hint:
            text.append(f" (fix: {d.hint})", style="dim")
        self.err.print(text)
