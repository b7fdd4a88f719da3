"""Load a registry file: read it (bounded), parse YAML, validate the structure, then check the semantic rules;
every finding located at file:line:column.

All errors of a file come out of one run: structural validation (registry.validation) sets aside only the
entries it rejects, and the semantic rules (registry.rules) run on everything that validated, with the names the
raw document declares, so a typo in one alarm neither hides a bad weight in a phase nor cascades into reference
errors about the alarm it broke.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registry.errors import Diagnostic, InputRefused, Location, RegistryInvalid
from registry.input_file import read_input
from registry.model import Registry
from registry.rules import KnownNames, check_rules
from registry.validation import validate
from registry.yaml_source import MAX_BYTES, SourceMap, parse_yaml


@dataclass
class LoadResult:
    """The registry (None when it has errors) and every diagnostic, errors and warnings, in file order."""

    file: str
    registry: Registry | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    source: SourceMap | None = None

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "error"]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == "warning"]


def _known(data: dict[Any, Any]) -> KnownNames:
    """Names as written in the raw document, so setting a broken entry aside does not cascade into more errors."""

    def keys(section: str) -> set[str]:
        value = data.get(section)
        return {str(k) for k in value} if isinstance(value, dict) else set()

    def phases() -> list[Any]:
        out = list(data.get("phases") or []) if isinstance(data.get("phases"), list) else []
        paths = data.get("paths")
        for path in paths.values() if isinstance(paths, dict) else []:
            if isinstance(path, dict) and isinstance(path.get("phases"), list):
                out.extend(path["phases"])
        return [p for p in out if isinstance(p, dict)]

    served: set[str] = set()
    for phase in phases():
        for key in ("weights", "internal_weights"):
            weights = phase.get(key)
            if isinstance(weights, dict):
                served |= {str(v) for v, pct in weights.items() if not isinstance(pct, int | float) or pct}
    main = data.get("phases")
    main_list = main if isinstance(main, list) else []
    main_names = {str(p["name"]) for p in main_list if isinstance(p, dict) and "name" in p}
    return KnownNames(variants=keys("variants"), topics=keys("topics"), served=served, main_phases=main_names)


def load_text(text: str, file: str = "<registry>") -> LoadResult:
    """Parse and validate registry text; never raises for a bad file (the diagnostics say what is wrong)."""
    parsed = parse_yaml(text, file)
    diagnostics = list(parsed.diagnostics)
    if parsed.data is None and diagnostics:
        return LoadResult(file, None, diagnostics, parsed.source)
    if not isinstance(parsed.data, dict):
        where = parsed.source.locate(())
        kind = "null" if parsed.data is None else type(parsed.data).__name__
        diagnostics.append(Diagnostic(where, f"the registry must be a mapping (version:, namespace:, variants: ...), "
                                             f"not a {kind}", hint="start from examples/voice-m2.yaml"))
        return LoadResult(file, None, diagnostics, parsed.source)

    validated = validate(parsed.data, parsed.source)
    diagnostics += validated.diagnostics
    registry = validated.registry()
    if registry is not None:
        known = _known(parsed.data)
        known.broken |= validated.broken
        diagnostics += check_rules(registry, parsed.source, known)
    ok = not any(d.severity == "error" for d in diagnostics)
    # A YAML alias (gates: *phase3_watch) makes one mistake show up once per use, at the same place: print it once.
    diagnostics = sorted(dict.fromkeys(diagnostics), key=lambda d: (d.location, d.severity))
    return LoadResult(file, registry if ok else None, diagnostics, parsed.source)


def load_file(path: str | Path) -> LoadResult:
    """Read and validate a registry file; a file that cannot be read (or is not a regular file of at most
    MAX_BYTES) is reported as a diagnostic too."""
    name = str(path)
    try:
        text = read_input(path, max_bytes=MAX_BYTES, kind="registry")
    except InputRefused as exc:
        return LoadResult(name, None, [Diagnostic(Location(name, 1, 1), exc.what)])
    return load_text(text, name)


def load_registry(path: str | Path) -> Registry:
    """Load a registry or raise RegistryInvalid with every diagnostic; warnings are not errors."""
    result = load_file(path)
    if result.registry is None:
        raise RegistryInvalid(result.diagnostics)
    return result.registry
