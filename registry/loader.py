"""Load a registry file: YAML -> structural validation (pydantic) -> semantic rules, every finding located.

All errors of a file come out of one run. When some entries are structurally broken they are set aside and the
semantic rules still run on the rest, so a typo in one alarm does not hide a bad weight in a phase.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from registry.errors import Diagnostic, Location, RegistryInvalid
from registry.model import Registry
from registry.rules import KnownNames, check_rules
from registry.yaml_source import SourceMap, parse_yaml

_COLLECTIONS = ("variants", "alarms", "topics", "paths", "phases")


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


def _walk_loc(data: Any, loc: tuple[int | str, ...]) -> tuple[list[int | str], Any]:
    """Map a pydantic error location onto the document, skipping union tags that are not document keys."""
    path: list[int | str] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and part not in ("metric", "approval"):
            path.append(part)  # a missing or unknown key: it has no node of its own
            node = None
    return path, node


def _model_at(path: list[int | str]) -> type[BaseModel] | None:
    """The model class whose field set applies at `path`, used to suggest the nearest valid key."""
    from registry import model as m

    table: dict[tuple[str, ...], type[BaseModel]] = {
        (): m.Registry,
        ("variants", "*"): m.Variant,
        ("phases", "*"): m.Phase,
        ("phases", "*", "decommission", "*"): m.DecommissionStep,
        ("paths", "*"): m.RolloutPath,
        ("alarms", "*"): m.Alarm,
        ("alarms", "*", "actions"): m.AlarmActions,
        ("topics", "*"): m.Topic,
        ("deployment",): m.Deployment,
        ("pricing",): m.Pricing,
        ("pricing", "assumptions"): m.CostAssumptions,
        ("pricing", "variants", "*", "*"): m.CostItem,
    }
    shape = tuple("*" if isinstance(p, int) or (i % 2 and p != "actions") else p for i, p in enumerate(path))
    if shape[:1] == ("paths",) and len(shape) > 3:
        shape = ("phases", "*", *shape[4:])
    if shape[:1] == ("pricing",) and len(shape) >= 3:
        shape = ("pricing", "variants", "*", "*") if len(shape) == 4 else shape
    return table.get(shape)


def _describe(error: Any, path: list[int | str]) -> tuple[str, str | None]:
    kind = error["type"]
    name = path[-1] if path else "document"
    if kind == "extra_forbidden":
        model = _model_at(path[:-1])
        close = difflib.get_close_matches(str(name), list(model.model_fields), n=1) if model else []
        return f"unknown key {name!r}", (f"did you mean {close[0]!r}?" if close else "remove it")
    if kind == "missing":
        return f"missing required key {name!r}", f"add {name}: ..."
    got = error.get("input")
    shown = f" (got {got!r})" if not isinstance(got, (dict, list)) else ""
    msg = str(error["msg"])
    if kind == "value_error":
        msg = msg.removeprefix("Value error, ")
    return f"{name}: {msg}{shown}", None


def _pydantic_diagnostics(exc: ValidationError, data: Any, source: SourceMap) -> tuple[list[Diagnostic], set]:
    diagnostics: list[Diagnostic] = []
    broken: set[tuple[int | str, ...]] = set()
    for error in exc.errors():
        path, _ = _walk_loc(data, tuple(error["loc"]))
        where = source.locate(path, key=error["type"] == "extra_forbidden")
        message, hint = _describe(error, path)
        diagnostics.append(Diagnostic(where, message, hint=hint))
        if len(path) >= 2 and path[0] in _COLLECTIONS:
            broken.add(tuple(path[:2]))
        else:
            broken.add(tuple(path[:1]))
    return diagnostics, broken


def _prune(data: dict[str, Any], broken: set[tuple[int | str, ...]]) -> dict[str, Any] | None:
    """Drop broken collection entries so the rest can be validated; None if a top-level field is broken."""
    if any(len(b) < 2 for b in broken):
        return None
    pruned = dict(data)
    for section in _COLLECTIONS:
        bad = {b[1] for b in broken if b[0] == section}
        if not bad or section not in pruned:
            continue
        value = pruned[section]
        if isinstance(value, list):
            pruned[section] = [x for i, x in enumerate(value) if i not in bad]
        elif isinstance(value, dict):
            pruned[section] = {k: v for k, v in value.items() if k not in bad}
    return pruned


def _known(data: dict[str, Any]) -> KnownNames:
    def keys(section: str) -> set[str]:
        value = data.get(section)
        return {str(k) for k in value} if isinstance(value, dict) else set()

    return KnownNames(variants=keys("variants"), topics=keys("topics"))


def load_text(text: str, file: str = "<registry>") -> LoadResult:
    """Parse and validate registry text; never raises for a bad file (the diagnostics say what is wrong)."""
    parsed = parse_yaml(text, file)
    diagnostics = list(parsed.diagnostics)
    if parsed.data is None:
        return LoadResult(file, None, diagnostics, parsed.source)
    if not isinstance(parsed.data, dict):
        where = parsed.source.locate(())
        diagnostics.append(Diagnostic(where, "the registry must be a mapping (version:, namespace:, variants: ...)"))
        return LoadResult(file, None, diagnostics, parsed.source)

    data: dict[str, Any] | None = parsed.data
    registry: Registry | None = None
    structural_ok = True
    for _ in range(3):  # each pass sets broken entries aside; nested breakage needs at most a few
        assert data is not None
        try:
            registry = Registry.model_validate(data)
            break
        except ValidationError as exc:
            structural_ok = False
            found, broken = _pydantic_diagnostics(exc, data, parsed.source)
            diagnostics.extend(d for d in found if d not in diagnostics)
            data = _prune(data, broken)
            if data is None:
                break
    if registry is not None:
        diagnostics.extend(check_rules(registry, parsed.source, _known(parsed.data)))
    ok = structural_ok and not any(d.severity == "error" for d in diagnostics)
    diagnostics.sort(key=lambda d: (d.location, d.severity))
    return LoadResult(file, registry if ok else None, diagnostics, parsed.source)


def load_file(path: str | Path) -> LoadResult:
    """Read and validate a registry file; an unreadable file is reported as a diagnostic too."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return LoadResult(str(p), None, [Diagnostic(Location(str(p), 1, 1), f"cannot read the file: {reason}")])
    return load_text(text, str(p))


def load_registry(path: str | Path) -> Registry:
    """Load a registry or raise RegistryInvalid with every diagnostic; warnings are not errors."""
    result = load_file(path)
    if result.registry is None:
        raise RegistryInvalid(result.diagnostics)
    return result.registry
