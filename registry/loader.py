"""Load a registry file: YAML -> structural validation (pydantic) -> semantic rules, every finding located.

All errors of a file come out of one run. When some entries are structurally broken they are set aside and the
semantic rules still run on the rest, so a typo in one alarm does not hide a bad weight in a phase.
"""

from __future__ import annotations

import copy
import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, cast, get_args, get_origin

from pydantic import BaseModel, ValidationError

from registry.errors import Diagnostic, Location, RegistryInvalid
from registry.model import ApprovalGate, MetricGate, Registry, gate_kind
from registry.rules import KnownNames, check_rules
from registry.yaml_source import SourceMap, parse_yaml

_COLLECTIONS = ("variants", "alarms", "topics", "paths", "phases")
DocPath = tuple[int | str, ...]


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


_GATE_TAGS = ("metric", "approval")
# Required top-level scalars: when one is broken, validation goes on with a harmless stand-in so the rest of
# the file is still checked (the stand-in is never reported; rules skip the fields named in KnownNames.broken).
_STAND_INS: dict[str, Any] = {
    "version": 1, "namespace": "/stand-in", "metrics_namespace": "StandIn", "baseline": None,
    "cache_ttl_seconds": 30, "assignment_seed": "stand-in",
}
_OPTIONAL_SECTIONS = ("deployment", "pricing", "topics", "paths", "alarms", "cache_ttl_seconds", "assignment_seed")


def _walk_loc(data: Any, loc: tuple[int | str, ...]) -> list[int | str]:
    """Map a pydantic error location onto document keys, skipping the gate union's tags (not document keys)."""
    path: list[int | str] = []
    node = data
    for part in loc:
        if part == "[key]" or (
            part in _GATE_TAGS and len(path) >= 2 and path[-2] == "gates" and isinstance(path[-1], int)
        ):
            continue  # pydantic's marker for "the key itself", and the gate union's tags: not document keys
        if isinstance(node, (dict, list)) and _has(node, part):
            path.append(part)
            node = node[part]  # type: ignore[index]
        elif isinstance(node, dict) and isinstance(part, str):
            path.append(part)  # a missing or unknown key: it has no node of its own
            node = None
    return path


def _unwrap(tp: Any, node: Any) -> Any:
    """Strip Annotated/Optional; pick the gate union's member the way its discriminator would."""
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            tp = get_args(tp)[0]
        elif origin in (Union, UnionType):
            members = [a for a in get_args(tp) if a is not type(None)]
            if len(members) == 1:
                tp = members[0]
            else:
                kind = gate_kind(node) if isinstance(node, dict) else "metric"
                tp = ApprovalGate if kind == "approval" else MetricGate
        else:
            return tp


def _model_at(data: Any, path: Sequence[int | str]) -> type[BaseModel] | None:
    """The model whose fields apply at `path` (to suggest the nearest valid key), found by walking the types."""
    tp: Any = Registry
    node = data
    for part in path:
        tp = _unwrap(tp, node)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            field = tp.model_fields.get(str(part))
            if field is None:
                return None
            tp = field.annotation
        elif get_origin(tp) in (list, dict):
            tp = get_args(tp)[-1]
        else:
            return None
        node = node[part] if isinstance(node, (dict, list)) and _has(node, part) else None  # type: ignore[index]
    tp = _unwrap(tp, node)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _node_at(data: Any, path: Sequence[int | str]) -> Any:
    node = data
    for part in path:
        if not isinstance(node, (dict, list)) or not _has(node, part):
            return None
        node = node[part]  # type: ignore[index]
    return node


def _has(node: dict[Any, Any] | list[Any], part: int | str) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(part, int) and 0 <= part < len(node)


def _dotted(path: Sequence[int | str], data: Any) -> str:
    """A readable name for a place in the document: phases[Phase3_Week4].weights.sonic-unified."""
    out = ""
    node = data
    for p in path:
        item = node[p] if isinstance(node, (dict, list)) and _has(node, p) else None  # type: ignore[index]
        if isinstance(p, int):
            named = isinstance(item, dict) and isinstance(item.get("name"), str)
            out += f"[{item['name']}]" if named and isinstance(item, dict) else f"[{p}]"
        else:
            out += f".{p}" if out else str(p)
        node = item
    return out or "the top level"


_TYPE_WORDS = {
    "int_type": "a whole number", "int_from_float": "a whole number", "float_type": "a number",
    "string_type": "a string", "bool_type": "true or false", "dict_type": "a mapping (key: value)",
    "list_type": "a list", "model_type": "a mapping (key: value)", "model_attributes_type": "a mapping (key: value)",
}


def _describe(error: Any, path: list[int | str], data: Any) -> tuple[str, str | None]:
    kind = error["type"]
    name = path[-1] if path else "document"
    where = _dotted(path[:-1], data)
    if kind == "extra_forbidden":
        model = _model_at(data, path[:-1])
        close = difflib.get_close_matches(str(name), list(model.model_fields), n=1) if model else []
        fields = f"; {where} takes: {', '.join(model.model_fields)}" if model and not close else ""
        place = "at the top level" if not path[:-1] else f"in {where}"
        return f"unknown key {name!r} {place}", (f"did you mean {close[0]!r}?" if close else f"remove it{fields}")
    if kind == "invalid_key" or "[key]" in error["loc"]:
        place = "at the top level" if not path[:-1] else f"in {where}"
        return f"key {name!r} {place} must be a name, not {type(name).__name__}", f"quote it: '{name}'"
    if kind == "missing":
        place = "at the top level" if not path[:-1] else f"in {where}"
        return f"missing required key {name!r} {place}", f"add {name}: ..."
    got = error.get("input")
    shown = f" (got {got!r})" if not isinstance(got, (dict, list)) else ""
    label = _dotted(path, data)
    if kind in _TYPE_WORDS:
        hint = None
        if isinstance(got, str) and got.strip().lstrip("-").replace(".", "", 1).isdigit():
            hint = "remove the quotes: write the number itself"
        elif isinstance(got, bool):
            hint = "true/false is not a number here"
        elif isinstance(got, int | float) and kind == "string_type":
            hint = f"quote it: '{got}'"
        elif isinstance(got, float) and kind.startswith("int"):
            hint = "use a whole number (weights are whole percents)" if "weights" in path else "use a whole number"
        return f"{label} must be {_TYPE_WORDS[kind]}{shown}", hint
    msg = str(error["msg"])
    if kind == "literal_error" and path == ["version"]:
        return f"version {got!r} is not supported: this voicectl reads version 1 files", "set version: 1"
    if kind == "value_error":
        msg = msg.removeprefix("Value error, ")
        return (msg if msg.startswith(f"{name} ") else f"{label}: {msg}"), None
    hint = None
    if kind == "enum" and isinstance(got, str):
        allowed = re.findall(r"'([^']*)'", msg)
        close = [a for a in allowed if a.lower() == got.lower()] or difflib.get_close_matches(got, allowed, n=1)
        hint = f"did you mean {close[0]!r}?" if close else None
    return f"{label}: {msg}{shown}", hint


@dataclass(frozen=True)
class _Fix:
    """How to set one broken place aside for the next validation pass: drop it, or rename a misspelt key."""

    path: DocPath
    rename_to: str | None = None


_GONE = object()


def _removable(data: Any, path: list[int | str]) -> DocPath:
    """The smallest part around an error that can be dropped without inventing errors: a list item, an optional
    field, else the whole collection entry (or top-level field)."""
    for k in range(len(path), 2, -1):
        part, parent = path[k - 1], path[: k - 1]
        if isinstance(part, int) and isinstance(_node_at(data, parent), list):
            return tuple(path[:k])
        model = _model_at(data, parent)
        if model is not None and part in model.model_fields and not model.model_fields[part].is_required():
            return tuple(path[:k])
    return tuple(path[:2]) if len(path) >= 2 and path[0] in _COLLECTIONS else tuple(path[:1])


def _pydantic_diagnostics(
    exc: ValidationError, data: Any, source: SourceMap, removed: Sequence[DocPath]
) -> tuple[list[Diagnostic], list[_Fix]]:
    """Located diagnostics for pydantic's errors, and the fixes that let the next pass validate the rest.

    Errors on an ancestor of something an earlier pass removed are consequences of that removal: not reported.
    """
    diagnostics: list[Diagnostic] = []
    fixes: list[_Fix] = []
    errors = [(e, _walk_loc(data, tuple(e["loc"]))) for e in exc.errors()]
    missing = {tuple(path) for e, path in errors if e["type"] == "missing"}
    renamed: set[DocPath] = set()
    for e, path in errors:
        if e["type"] == "extra_forbidden" and path:
            model = _model_at(data, path[:-1])
            close = difflib.get_close_matches(str(path[-1]), list(model.model_fields), n=1) if model else []
            # A misspelt required key shows up twice (missing X, unknown X'): report it once, as the unknown key,
            # and validate on as if it were spelt right.
            if close and (*path[:-1], close[0]) in missing:
                renamed.add((*path[:-1], close[0]))
                fixes.append(_Fix(tuple(path), rename_to=close[0]))
            else:
                fixes.append(_Fix(tuple(path)))
        elif not (e["type"] == "missing" and tuple(path) in renamed):
            fixes.append(_Fix(_removable(data, path)))
    for e, path in errors:
        if e["type"] == "missing" and tuple(path) in renamed:
            continue
        if any(tuple(path) == r[: len(path)] and len(path) < len(r) for r in removed):
            continue
        on_key = e["type"] in ("extra_forbidden", "invalid_key") or "[key]" in e["loc"]
        where = source.locate(path, key=on_key)
        message, hint = _describe(e, path, data)
        diagnostics.append(Diagnostic(where, message, hint=hint))
    return diagnostics, fixes


def _apply(data: dict[str, Any], fixes: list[_Fix], known: KnownNames) -> dict[str, Any] | None:
    """A copy of `data` with the fixes applied: broken parts dropped, misspelt keys renamed, broken required
    top-level scalars replaced by stand-ins. None when nothing sensible is left to validate."""
    out: dict[str, Any] = copy.deepcopy(data)
    for fix in fixes:
        if len(fix.path) == 1 and fix.rename_to is None:
            top = str(fix.path[0])
            if top in _STAND_INS:
                stand_in = _STAND_INS[top]
                if top == "baseline":
                    variants = data.get("variants")
                    stand_in = next(iter(variants), None) if isinstance(variants, dict) else None
                    if not isinstance(stand_in, str):
                        return None
                out[top] = stand_in
            elif top in _OPTIONAL_SECTIONS:
                out[top] = _GONE
            elif top not in Registry.model_fields:
                out[top] = _GONE  # an unknown top-level key
            else:
                return None
            known.broken.add(top)
            continue
        parent: Any = out
        for part in fix.path[:-1]:
            parent = parent[part] if isinstance(parent, (dict, list)) and _has(parent, part) else None  # type: ignore[index]
        last = fix.path[-1]
        if not isinstance(parent, (dict, list)) or not _has(parent, last):
            continue  # already set aside with an ancestor
        if fix.rename_to is not None and isinstance(parent, dict):
            parent[fix.rename_to] = parent.pop(last)
        else:
            parent[last] = _GONE  # type: ignore[index]
    cleaned = _strip(out)
    if not cleaned.get("variants") or not cleaned.get("phases"):
        return None  # nothing left to check the rest against
    return cast(dict[str, Any], cleaned)


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _strip(v) for k, v in node.items() if v is not _GONE}
    if isinstance(node, list):
        return [_strip(v) for v in node if v is not _GONE]
    return node


def _known(data: dict[str, Any]) -> KnownNames:
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

    known = _known(parsed.data)
    data: dict[str, Any] | None = parsed.data
    registry: Registry | None = None
    removed: list[DocPath] = []
    for _ in range(4):  # each pass sets broken parts aside; nested breakage needs at most a few
        assert data is not None
        try:
            registry = Registry.model_validate(data)
            break
        except ValidationError as exc:
            found, fixes = _pydantic_diagnostics(exc, data, parsed.source, removed)
            diagnostics.extend(d for d in found if d not in diagnostics)
            removed.extend(f.path for f in fixes if f.rename_to is None)
            data = _apply(data, fixes, known)
            if data is None:
                break
    if registry is not None:
        diagnostics.extend(check_rules(registry, parsed.source, known))
    ok = not any(d.severity == "error" for d in diagnostics)
    # A YAML alias (gates: *phase3_watch) makes one mistake show up once per use, at the same place: print it once.
    diagnostics = sorted(dict.fromkeys(diagnostics), key=lambda d: (d.location, d.severity))
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
