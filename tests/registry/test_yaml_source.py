"""registry.yaml_source: the libyaml fast path and the pure-Python path give the same data and locations."""

from __future__ import annotations

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
