"""registry.yaml_source: the libyaml fast path and the pure-Python path give the same data and locations."""

from __future__ import annotations

import pytest
from registry_corpus import example_text

from registry import yaml_source
from registry.errors import Location


def test_fast_and_pure_parsers_agree_on_data_and_locations() -> None:
    text = example_text() + "\nextra: {naïve: 'é', list: [1, 2, {k: ü}], <<: {merged: true}}\n"
    fast, pure = yaml_source.parse_yaml(text, "f.yaml"), yaml_source._parse_pure(text, "f.yaml")
    assert fast.data == pure.data
    assert fast.source.values == pure.source.values
    assert fast.source.keys == pure.source.keys
    assert fast.data["extra"]["merged"] is True
    # a column after a non-ASCII character counts characters, not bytes
    line = text.splitlines().index("extra: {naïve: 'é', list: [1, 2, {k: ü}], <<: {merged: true}}") + 1
    assert fast.source.keys[("extra", "list")] == Location("f.yaml", line, 21)


def test_duplicate_keys_are_caught_on_the_fast_path() -> None:
    parsed = yaml_source.parse_yaml("a: 1\nb: {x: 1, x: 2}\n", "f.yaml")
    assert [str(d) for d in parsed.diagnostics] == [
        "f.yaml:2:11: error: duplicate key 'x' (first defined at line 2); YAML would silently keep only the last "
        "one (fix: remove or rename one of the two)"]
    assert parsed.data == {"a": 1, "b": {"x": 1}}


def test_locate_falls_back_to_the_nearest_ancestor() -> None:
    parsed = yaml_source.parse_yaml("top:\n  inner: {a: 1}\n", "f.yaml")
    assert parsed.source.locate(("top", "inner", "missing")) == Location("f.yaml", 2, 10)
    assert parsed.source.locate(("nowhere",)) == Location("f.yaml", 1, 1)
    assert parsed.source.locate(("top", "inner"), key=True) == Location("f.yaml", 2, 3)


BOMB = "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(6))


@pytest.mark.parametrize(("text", "message"), [
    pytest.param("a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + BOMB,
                 "the document expands to more than 100,000 values (nested YAML aliases?)", id="billion-laughs"),
    pytest.param("a: &x [1, *x]\n", "a YAML alias refers to a node that contains it (a cycle)", id="alias-cycle"),
    pytest.param("a: " + "[" * 500 + "]" * 500 + "\n", "the document nests more than 64 levels deep",
                 id="deep-flow"),
    pytest.param("a: " + "[" * 12_000 + "]" * 12_000 + "\n", "the document nests more than 64 levels deep",
                 id="very-deep-flow"),
    pytest.param("a:\n" + "".join(" " * i + f"k{i}:\n" for i in range(1, 80)), "the document nests more than 64 "
                 "levels deep", id="deep-block"),
    pytest.param("version: 1\nna\x1fme: x\n", "the file contains a character YAML does not allow (#x001f, special "
                 "characters are not allowed)", id="control-character"),
    pytest.param("#" * 1_000_001, "the file is 1,000,001 bytes; a registry is at most 1,000,000", id="too-big"),
])
def test_hostile_documents_are_refused_with_a_message(text: str, message: str) -> None:
    parsed = yaml_source.parse_yaml(text, "f.yaml")
    assert parsed.data is None
    assert [d.message for d in parsed.diagnostics] == [message]


def test_control_character_is_located() -> None:
    (diagnostic,) = yaml_source.parse_yaml("version: 1\nna\x1fme: x\n", "f.yaml").diagnostics
    assert (diagnostic.location.line, diagnostic.location.column, diagnostic.hint) == (2, 3, "remove it")
