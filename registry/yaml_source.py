"""YAML parsing that keeps where every value came from.

PyYAML silently keeps the last of two duplicate keys and forgets line numbers once it has built Python objects;
a registry mistake must instead be reported at its `file:line:column`. So the document is composed into nodes,
turned into plain data by hand (flagging duplicate keys), and a path -> location index is kept beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from registry.errors import Diagnostic, Location, clipped, shown

Path = tuple[str | int, ...]


@dataclass
class SourceMap:
    """Where each path of the parsed document starts: its value and, for mapping entries, its key."""

    file: str
    values: dict[Path, Location] = field(default_factory=dict)
    keys: dict[Path, Location] = field(default_factory=dict)

    def locate(self, path: Sequence[str | int], *, key: bool = False) -> Location:
        """The location of `path`, or of its nearest ancestor that exists (a missing field points at its parent)."""
        p = tuple(path)
        while p:
            table = self.keys if key and p in self.keys else self.values
            if p in table:
                return table[p]
            p = p[:-1]
        return self.values.get((), Location(self.file, 1, 1))


@dataclass
class ParsedYaml:
    data: Any
    source: SourceMap
    diagnostics: list[Diagnostic]


def _loc(file: str, node: yaml.Node) -> Location:
    return Location(file, node.start_mark.line + 1, node.start_mark.column + 1)


# libyaml (when PyYAML was built with it) composes nodes ~10x faster; errors are re-parsed with the pure-Python
# loader so messages and positions read the same on every install.
_FAST_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# Aliases are expanded (each use gets its own path and locations), so a few lines of nested aliases could expand
# to billions of values ("billion laughs"): cap the expanded size far above any real registry.
MAX_VALUES = 100_000
_STR_TAG = "tag:yaml.org,2002:str"
# A registry nests about 8 levels; refusing deeper documents early keeps every parser far from its recursion limits.
MAX_DEPTH = 64
MAX_BYTES = 1_000_000


class _Refused(Exception):
    def __init__(self, node: yaml.Node, message: str) -> None:
        super().__init__(message)
        self.node = node
        self.message = message


class _Builder:
    def __init__(self, file: str, text: str, loader: type[yaml.SafeLoader] = yaml.SafeLoader) -> None:
        self.file = file
        self.loader = loader(text)
        self.source = SourceMap(file)
        self.diagnostics: list[Diagnostic] = []
        self.count = 0
        self.open: set[int] = set()  # ids of the collection nodes being built: an alias to one is a cycle

    def build(self, node: yaml.Node, path: Path) -> Any:
        self.count += 1
        if len(path) > MAX_DEPTH:
            raise _Refused(node, f"the document nests more than {MAX_DEPTH} levels deep")
        if self.count > MAX_VALUES:
            raise _Refused(node, f"the document expands to more than {MAX_VALUES:,} values (nested YAML aliases?)")
        if id(node) in self.open:
            raise _Refused(node, "a YAML alias refers to a node that contains it (a cycle)")
        self.source.values[path] = _loc(self.file, node)
        if isinstance(node, yaml.CollectionNode):
            self.open.add(id(node))
            try:
                return self._collection(node, path)
            finally:
                self.open.discard(id(node))
        return self._scalar(node)

    def _scalar(self, node: yaml.Node) -> Any:
        if node.tag == _STR_TAG:  # most values: skip the constructor machinery (same result, ~2x faster load)
            return node.value
        try:
            return self.loader.construct_object(node, deep=True)
        except ValueError as exc:  # e.g. int() past 4,300 digits (CVE-2020-10735), a date like 2026-13-45
            text = str(node.value)
            digits = sum(ch.isdigit() for ch in text)
            if digits > 100 and digits > len(text) - 5:
                raise _Refused(node, f"a number of {digits:,} digits is too long for a registry") from exc
            raise _Refused(node, f"the value {shown(text)} cannot be read as {node.tag.rsplit(':', 1)[-1]}: "
                                 f"{clipped(str(exc), 120)}") from exc

    def _collection(self, node: yaml.CollectionNode, path: Path) -> Any:
        if isinstance(node, yaml.MappingNode):
            self.loader.flatten_mapping(node)  # resolves YAML merge keys (<<) before we walk
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self._scalar(key_node)
                if not isinstance(key, (str, int)) or isinstance(key, bool):
                    self.diagnostics.append(
                        Diagnostic(_loc(self.file, key_node),
                                   f"a mapping key must be a name or a number, not {shown(key)}",
                                   hint="quote it if it is meant as text")
                    )
                    continue
                child = (*path, key)
                if key in out:
                    first = self.source.keys[child]
                    self.diagnostics.append(
                        Diagnostic(
                            _loc(self.file, key_node),
                            f"duplicate key {shown(key)} (first defined at line {first.line}); "
                            "YAML would silently keep only the last one",
                            hint="remove or rename one of the two",
                        )
                    )
                    continue
                self.source.keys[child] = _loc(self.file, key_node)
                out[key] = self.build(value_node, child)
            return out
        return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]


def parse_yaml(text: str, file: str) -> ParsedYaml:
    """Parse one YAML document; syntax errors and duplicate keys come back as diagnostics, never raised."""
    size = len(text.encode("utf-8", "replace"))
    if size > MAX_BYTES:
        return ParsedYaml(None, SourceMap(file), [Diagnostic(
            Location(file, 1, 1), f"the file is {size:,} bytes; a registry is at most {MAX_BYTES:,}")])
    # Each flow bracket or block-sequence dash can open a level; libyaml's composer recurses in C, so a
    # pathologically nested text goes to the pure-Python composer, whose recursion error is caught below.
    openers = text.count("[") + text.count("{") + text.count("-")
    if _FAST_LOADER is not yaml.SafeLoader and openers < 10_000:
        try:
            fast = _Builder(file, text, _FAST_LOADER)
        except yaml.YAMLError:
            return _parse_pure(text, file)
        try:
            root = fast.loader.get_single_node()
            if root is not None:
                return ParsedYaml(fast.build(root, ()), fast.source, fast.diagnostics)
        except _Refused as exc:
            return ParsedYaml(None, fast.source, [Diagnostic(_loc(file, exc.node), exc.message)])
        except yaml.YAMLError:
            pass  # reported below, in the pure-Python loader's words
        finally:
            fast.loader.dispose()
    return _parse_pure(text, file)


def _unprintable(text: str, file: str, exc: yaml.reader.ReaderError) -> ParsedYaml:
    before = text[: exc.position]
    where = Location(file, before.count("\n") + 1, exc.position - (before.rfind("\n") + 1) + 1)
    message = f"the file contains a character YAML does not allow (#x{exc.character:04x}, {exc.reason})"
    return ParsedYaml(None, SourceMap(file), [Diagnostic(where, message, hint="remove it")])


def _parse_pure(text: str, file: str) -> ParsedYaml:
    try:
        builder = _Builder(file, text)
    except yaml.reader.ReaderError as exc:
        return _unprintable(text, file, exc)
    try:
        root = builder.loader.get_single_node()
    except RecursionError:
        return ParsedYaml(None, builder.source, [Diagnostic(
            Location(file, 1, 1), f"the document nests more than {MAX_DEPTH} levels deep")])
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file, 1, 1)
        problem = exc.problem or str(exc)
        context = f" ({exc.context})" if exc.context else ""
        start = exc.context_mark
        if exc.context and start is not None and mark is not None and start.line != mark.line:
            context = f" ({exc.context} started at line {start.line + 1})"
        if exc.context and problem.startswith("but "):  # PyYAML splits "expected X, but found Y" in two
            problem, context = f"{exc.context}, {problem}", ""
        return ParsedYaml(None, builder.source, [Diagnostic(where, f"YAML syntax error: {problem}{context}")])
    except yaml.YAMLError as exc:
        return ParsedYaml(None, builder.source, [Diagnostic(Location(file, 1, 1), f"YAML error: {exc}")])
    finally:
        builder.loader.dispose()
    if root is None:
        return ParsedYaml(None, builder.source, [Diagnostic(Location(file, 1, 1), "the file is empty")])
    try:
        data = builder.build(root, ())
    except _Refused as exc:
        return ParsedYaml(None, builder.source, [Diagnostic(_loc(file, exc.node), exc.message)])
    except yaml.YAMLError as exc:  # e.g. an unknown tag such as !!python/object
        mark = getattr(exc, "problem_mark", None)
        where = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file, 1, 1)
        return ParsedYaml(None, builder.source, [Diagnostic(where, f"YAML error: {getattr(exc, 'problem', exc)}")])
    return ParsedYaml(data, builder.source, builder.diagnostics)
