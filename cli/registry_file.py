"""The registry FILE a command is given: loaded once, its warnings shown, an invalid file raised for cli.errors."""

from __future__ import annotations

from pathlib import Path

from cli.output import Output
from registry.errors import RegistryInvalid
from registry.loader import load_file
from registry.model import Registry


def load_or_fail(path: Path, out: Output) -> Registry:
    """The registry in `path`; its warnings are printed here. An invalid file raises RegistryInvalid, whose every
    finding cli.errors prints (located, with its fix) before the summary."""
    result = load_file(path)
    if result.registry is None:
        raise RegistryInvalid(result.diagnostics)
    for d in result.warnings:
        out.diagnostic(d)
    return result.registry
