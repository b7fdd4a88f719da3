"""Structural validation of a parsed registry document: pydantic, one field or collection entry at a time.

Each top-level field and each entry of a collection (a variant, a phase, an alarm, a topic, a path) is validated
once, on its own, so a typo in one alarm sets only that alarm aside and the semantic rules (registry.rules) still
run on everything else. pydantic's errors become located diagnostics in plain words. (argo-rollouts splits its
validation the same way: the spec's structure here, the cross-references in rules.)
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from registry.errors import Diagnostic, shown
from registry.model import ApprovalGate, MetricGate, Registry, gate_kind
from registry.yaml_source import SourceMap

DocPath = tuple[int | str, ...]
Error = Mapping[str, Any]  # one pydantic error (type, loc, msg, input)

_STRICT = ConfigDict(strict=True)  # the registry's models are strict; a bare field's adapter must be too
_GATE_TAGS = ("metric", "approval")


@dataclass(frozen=True)
class _Field:
    """How one top-level field is validated: as a whole, or its shape first and then each entry on its own."""

    name: str
    whole: TypeAdapter[Any]
    entry: TypeAdapter[Any] | None = None  # for a collection: the type of each entry
    container: type = object  # for a collection: dict or list
    required: bool = False


def _plan(name: str) -> _Field:
    info = Registry.model_fields[name]
    origin = get_origin(info.annotation)
    if origin in (dict, list):
        shape: Any = dict[str, Any] if origin is dict else list[Any]
        return _Field(name, TypeAdapter(Annotated[shape, info], config=_STRICT),
                      TypeAdapter(get_args(info.annotation)[-1]), origin, info.is_required())
    whole: Any = Annotated[info.annotation, info]  # the field's type with its constraints (min_length, pattern...)
    return _Field(name, TypeAdapter(whole, config=_STRICT), required=info.is_required())


FIELDS = {name: _plan(name) for name in Registry.model_fields}


@dataclass
class Validated:
    """What validated (field name -> value; a collection keeps its good entries), the diagnostics, and the
    top-level fields that are missing or broken (rules that need them are skipped)."""

    values: dict[str, Any] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    broken: set[str] = field(default_factory=set)

    def registry(self) -> Registry | None:
        """The registry built from the parts that validated, for the semantic rules; None without variants or
        phases to check the rest against. Complete (a real Registry) when there are no diagnostics."""
        if not self.values.get("variants") or not self.values.get("phases"):
            return None
        return Registry.model_construct(**self.values)


def validate(data: dict[Any, Any], source: SourceMap) -> Validated:
    """Validate every top-level field of `data`, and every entry of its collections, once."""
    out = Validated()
    errors: list[tuple[Error, DocPath]] = []
    unknown = [key for key in data if key not in FIELDS]
    # A misspelt required key shows up twice (missing X, unknown X'): report it once, as the unknown key, and
    # validate its value as X.
    spelt: dict[str, Any] = {}
    for key in unknown:
        close = difflib.get_close_matches(str(key), list(FIELDS), n=1)
        if close and close[0] not in data and FIELDS[close[0]].required:
            spelt[close[0]] = data[key]
        errors.append(({"type": "extra_forbidden", "loc": (key,), "msg": "Extra inputs are not permitted"}, ()))
    for name, plan in FIELDS.items():
        if name not in data and name not in spelt:
            if plan.required:
                out.broken.add(name)
                errors.append(({"type": "missing", "loc": (name,), "msg": "Field required"}, ()))
            continue
        before = len(errors)
        _validate_field(plan, data[name] if name in data else spelt[name], (name,), out, errors)
        if len(errors) > before and plan.entry is None:
            out.broken.add(name)
    out.diagnostics = _diagnostics(errors, data, source)
    return out


def _validate_field(plan: _Field, raw: Any, prefix: DocPath, out: Validated,
                    errors: list[tuple[Error, DocPath]]) -> None:
    try:
        shaped = plan.whole.validate_python(raw)
    except ValidationError as exc:
        errors.extend((e, prefix) for e in exc.errors())
        if plan.entry is None or not isinstance(raw, plan.container):
            return
        # bad keys or too few entries: the entries under good keys are still checked
        shaped = {k: v for k, v in raw.items() if isinstance(k, str)} if isinstance(raw, dict) else raw
    if plan.entry is None:
        out.values[plan.name] = shaped
        return
    items = list(shaped.items()) if isinstance(shaped, dict) else list(enumerate(shaped))
    good: list[tuple[Any, Any]] = []
    for key, item in items:
        try:
            good.append((key, plan.entry.validate_python(item)))
        except ValidationError as exc:
            errors.extend((e, (*prefix, key)) for e in exc.errors())
    out.values[plan.name] = dict(good) if isinstance(shaped, dict) else [value for _, value in good]


# --- pydantic errors -> located diagnostics ------------------------------------------------------------------------

def _child(node: Any, part: int | str) -> tuple[bool, Any]:
    """(True, node[part]) when `node` has `part`, else (False, None)."""
    if isinstance(node, dict) and part in node:
        return True, node[part]
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return True, node[part]
    return False, None


def _walk_loc(data: Any, loc: Sequence[int | str]) -> list[int | str]:
    """Map a pydantic error location onto document keys, skipping the gate union's tags (not document keys)."""
    path: list[int | str] = []
    node = data
    for part in loc:
        if part == "[key]" or (
            part in _GATE_TAGS and len(path) >= 2 and path[-2] == "gates" and isinstance(path[-1], int)
        ):
            continue  # pydantic's marker for "the key itself", and the gate union's tags: not document keys
        found, child = _child(node, part)
        if found:
            path.append(part)
            node = child
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
            gate = ApprovalGate if gate_kind(node) == "approval" else MetricGate
            tp = members[0] if len(members) == 1 else gate
        else:
            return tp


def _model_at(data: Any, path: Sequence[int | str]) -> type[BaseModel] | None:
    """The model whose fields apply at `path` (to suggest the nearest valid key), found by walking the types."""
    tp: Any = Registry
    node = data
    for part in path:
        tp = _unwrap(tp, node)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            info = tp.model_fields.get(str(part))
            if info is None:
                return None
            tp = info.annotation
        elif get_origin(tp) in (list, dict):
            tp = get_args(tp)[-1]
        else:
            return None
        node = _child(node, part)[1]
    tp = _unwrap(tp, node)
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _short(name: str, limit: int = 40) -> str:
    return name if len(name) <= limit else f"{name[:limit]}..."


def _dotted(path: Sequence[int | str], data: Any) -> str:
    """A readable name for a place in the document: phases[Phase3_Week4].weights.sonic-unified."""
    out = ""
    node = data
    for p in path:
        item = _child(node, p)[1]
        if isinstance(p, int):
            name = item.get("name") if isinstance(item, dict) else None
            out += f"[{_short(name)}]" if isinstance(name, str) else f"[{p}]"
        else:
            out += f".{_short(str(p))}" if out else _short(str(p))
        node = item
    return out or "the top level"


_TYPE_WORDS = {
    "int_type": "a whole number", "int_from_float": "a whole number", "float_type": "a number",
    "string_type": "a string", "bool_type": "true or false", "dict_type": "a mapping (key: value)",
    "list_type": "a list", "model_type": "a mapping (key: value)", "model_attributes_type": "a mapping (key: value)",
}
_NUMBER = re.compile(r"^-?\d+(\.\d*)?$")


def _describe(error: Error, path: list[int | str], data: Any) -> tuple[str, str | None]:
    kind = error["type"]
    name = path[-1] if path else "document"
    where = _dotted(path[:-1], data)
    place = "at the top level" if not path[:-1] else f"in {where}"
    if kind == "extra_forbidden":
        model = _model_at(data, path[:-1])
        close = difflib.get_close_matches(str(name), list(model.model_fields), n=1) if model else []
        fields = f"; {where} takes: {', '.join(model.model_fields)}" if model and not close else ""
        return f"unknown key {shown(name)} {place}", (f"did you mean {close[0]!r}?" if close else f"remove it{fields}")
    if kind == "invalid_key" or "[key]" in error["loc"]:
        return f"key {shown(name)} {place} must be a name, not {type(name).__name__}", f"quote it: '{shown(name)}'"
    if kind == "missing":
        return f"missing required key {shown(name)} {place}", f"add {name}: ..."
    got = error.get("input")
    value = f" (got {shown(got)})" if not isinstance(got, (dict, list)) else ""
    label = _dotted(path, data)
    if kind in _TYPE_WORDS:
        hint = None
        if isinstance(got, str) and len(got) < 40 and _NUMBER.match(got.strip()):
            hint = "remove the quotes: write the number itself"
        elif isinstance(got, bool):
            hint = "true/false is not a number here"
        elif isinstance(got, int | float) and kind == "string_type":
            hint = f"quote it: '{shown(got)}'"
        elif isinstance(got, float) and kind.startswith("int"):
            hint = "use a whole number (weights are whole percents)" if "weights" in path else "use a whole number"
        return f"{label} must be {_TYPE_WORDS[kind]}{value}", hint
    msg = str(error["msg"])
    if kind == "literal_error" and path == ["version"]:
        if isinstance(got, str) and got.strip() == "1":
            return "version must be the number 1, not the string '1'", "remove the quotes: version: 1"
        return f"version {shown(got)} is not supported: this release reads version 1 files", "set version: 1"
    if kind == "value_error":
        msg = msg.removeprefix("Value error, ")
        return (msg if msg.startswith(f"{name} ") else f"{label}: {msg}"), None
    hint = None
    if kind == "enum" and isinstance(got, str):
        allowed = re.findall(r"'([^']*)'", msg)
        close = [a for a in allowed if a.lower() == got.lower()] or difflib.get_close_matches(got, allowed, n=1)
        hint = f"did you mean {close[0]!r}?" if close else None
    return f"{label}: {msg}{value}", hint


def _diagnostics(errors: list[tuple[Error, DocPath]], data: Any, source: SourceMap) -> list[Diagnostic]:
    """Located diagnostics for the collected errors (each error's `loc` is relative to its prefix)."""
    located = [(e, _walk_loc(data, (*prefix, *e["loc"]))) for e, prefix in errors]
    unknown = {tuple(path) for e, path in located if e["type"] == "extra_forbidden"}
    out: list[Diagnostic] = []
    for e, path in located:
        if e["type"] == "missing" and _misspelt(path, unknown):
            continue  # reported once, as the unknown key that was meant to be it
        on_key = e["type"] in ("extra_forbidden", "invalid_key") or "[key]" in e["loc"]
        message, hint = _describe(e, path, data)
        out.append(Diagnostic(source.locate(path, key=on_key), message, hint=hint))
    return out


def _misspelt(path: list[int | str], unknown: set[DocPath]) -> bool:
    """Whether a missing key at `path` is there under a misspelt name (an unknown sibling close to it)."""
    if not path:
        return False
    siblings = [str(u[-1]) for u in unknown if len(u) == len(path) and u[:-1] == tuple(path[:-1])]
    return bool(difflib.get_close_matches(str(path[-1]), siblings, n=1))
