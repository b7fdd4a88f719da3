"""The committed JSON Schemas are exactly what the pydantic models generate (one schema source), and they accept
the example and its compiled form."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import BaseModel
from registry_corpus import EXAMPLE

from registry.compiled import CompiledRegistry, compile_registry
from registry.loader import load_file
from registry.model import Registry

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schema"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def generated(model: type[BaseModel]) -> dict[str, Any]:
    doc = model.model_json_schema()
    doc["$schema"] = DIALECT
    return doc


@pytest.mark.parametrize(
    ("file", "model"),
    [("voice-registry.schema.json", Registry), ("compiled-registry.schema.json", CompiledRegistry)],
)
def test_committed_schema_equals_model_json_schema(file: str, model: type[BaseModel]) -> None:
    committed = json.loads((SCHEMA_DIR / file).read_text())
    assert committed == generated(model), f"schema/{file} is stale: run `make schema`"
    jsonschema.Draft202012Validator.check_schema(committed)


def test_example_validates_against_the_editor_schema() -> None:
    schema = json.loads((SCHEMA_DIR / "voice-registry.schema.json").read_text())
    document = yaml.safe_load(EXAMPLE.read_text())
    jsonschema.validate(document, schema)
    document["variants"]["sonic-unified"]["barge_in_enable"] = True
    with pytest.raises(jsonschema.ValidationError, match="barge_in_enable"):
        jsonschema.validate(document, schema)


def test_example_declares_the_schema_for_editors() -> None:
    first = EXAMPLE.read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=../schema/voice-registry.schema.json"
    assert (EXAMPLE.parent / "../schema/voice-registry.schema.json").resolve().is_file()


def test_compiled_example_validates_against_the_compiled_schema() -> None:
    result = load_file(EXAMPLE)
    assert result.registry is not None
    value = json.loads(compile_registry(result.registry).to_json())
    schema = json.loads((SCHEMA_DIR / "compiled-registry.schema.json").read_text())
    jsonschema.validate(value, schema)
    value["phases"][0]["weights"] = "all"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(value, schema)
