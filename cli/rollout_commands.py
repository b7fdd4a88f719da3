"""Command group placeholder: filled by the capability that owns it."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Attach this module's commands to the voicectl app."""
