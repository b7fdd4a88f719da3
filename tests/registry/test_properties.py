"""Hypothesis properties of the registry: any generated valid registry validates, compiles deterministically (also
after a dump/reload round trip) into a `registry` parameter that satisfies the committed JSON Schema; and a mutation
that breaks a rule is reported at the line of the mutated place."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from control_plane.compiler import compile_plan
from registry.loader import LoadResult, load_text
from registry.yaml_source import parse_yaml

COMPILED_SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "schema" / "compiled-registry.schema.json").read_text())
STATISTICS = ["p50", "p95", "p99", "p99.9", "TM(100:900)", "Average", "Sum", "Maximum", "Minimum", "SampleCount"]
PERIODS = [10, 20, 30, 60, 120, 300, 600, 3600, 86_400]
COMPARISONS = ["GreaterThanThreshold", "GreaterThanOrEqualToThreshold", "LessThanThreshold",
               "LessThanOrEqualToThreshold"]
MISSING = ["breaching", "notBreaching", "ignore", "missing"]
FAST = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])

names = st.from_regex(r"[a-z][a-z0-9]{1,7}(-[a-z0-9]{1,5})?", fullmatch=True)


def split_100(draw: st.DrawFn, variants: list[str]) -> dict[str, int]:
    """Whole-percent weights over `variants` summing to 100 (some may be 0)."""
    cuts = sorted(draw(st.lists(st.integers(0, 100), min_size=len(variants) - 1, max_size=len(variants) - 1)))
    bounds = [0, *cuts, 100]
    return {v: bounds[i + 1] - bounds[i] for i, v in enumerate(variants)}


@st.composite
def variant(draw: st.DrawFn, *, baseline: bool) -> dict[str, Any]:
    kind = draw(st.sampled_from(["m1", "nova", "csm", "echo"]))
    doc: dict[str, Any] = {
        "m1": {"voice_stt": "transcribe_streaming", "voice_llm": "bedrock_claude_sonnet_4_6",
               "voice_tts": "polly_generative", "transport": "sse"},
        "nova": {"voice_stt": "nova_sonic_unified", "voice_llm": "nova_sonic_unified",
                 "voice_tts": "nova_sonic_unified", "transport": "websocket",
                 "bedrock_model_id": "amazon.nova-sonic-v1:0"},
        "csm": {"voice_stt": "transcribe_streaming", "voice_llm": "bedrock_claude_sonnet_4_6",
                "voice_tts": "sesame_csm1b_sagemaker", "transport": "websocket", "sagemaker_endpoint": "csm-1"},
        "echo": {"voice_stt": "ws-echo", "voice_llm": "ws-echo", "voice_tts": "ws-echo", "transport": "websocket"},
    }[kind]
    doc["internal_only"] = False if baseline else draw(st.booleans())
    doc["deprecated"] = False if baseline else draw(st.booleans())
    doc["barge_in_enabled"] = draw(st.booleans())
    if draw(st.booleans()):
        doc["min_sdk_version"] = draw(st.sampled_from(["1", "2.3", "10.0.1"]))
    return doc


@st.composite
def registries(draw: st.DrawFn) -> dict[str, Any]:
    """A valid registry document (what a person would write in YAML)."""
    variant_names = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    baseline = variant_names[0]
    variants = {n: draw(variant(baseline=n == baseline)) for n in variant_names}
    topics = draw(st.lists(st.sampled_from(["oncall", "eng", "release-owners"]), max_size=2, unique=True))
    deployment = draw(st.booleans())
    phase_count = draw(st.integers(1, 4))
    phases = []
    for i in range(phase_count):
        phase: dict[str, Any] = {"name": f"Phase{i}_{draw(names)}", "weights": split_100(draw, variant_names)}
        if draw(st.booleans()):
            phase["internal_weights"] = split_100(draw, variant_names)
        if draw(st.booleans()):
            phase["bake"] = draw(st.sampled_from(["30m", "48h", "2d", "1h30m", "7d"]))
        phase["gates"] = [
            {"metric": draw(st.sampled_from(["VoiceM2_TTFA_ms", "VoiceM2_SessionError"])),
             "statistic": draw(st.sampled_from(STATISTICS)),
             "dimensions": {"Variant": draw(st.sampled_from(variant_names))},
             draw(st.sampled_from(["below", "above"])): draw(st.floats(0, 1e4, allow_nan=False))}
            for _ in range(draw(st.integers(0, 2)))
        ]
        phases.append(phase)
    alarms = {}
    for i in range(draw(st.integers(0, 3))):
        evaluation = draw(st.integers(1, 5))
        revertable = [v for v in variant_names if v != baseline]
        alarm: dict[str, Any] = {
            "metric": "VoiceM2_TTFA_ms", "statistic": draw(st.sampled_from(STATISTICS)),
            "dimensions": {"Variant": draw(st.sampled_from(variant_names))},
            "period": draw(st.sampled_from(PERIODS)), "evaluation_periods": evaluation,
            "threshold": draw(st.floats(-1e6, 1e6, allow_nan=False)),
            "comparison": draw(st.sampled_from(COMPARISONS)), "treat_missing_data": draw(st.sampled_from(MISSING)),
            "actions": {"notify": draw(st.lists(st.sampled_from(topics), unique=True)) if topics else [],
                        "revert": draw(st.lists(st.sampled_from(revertable), unique=True)) if revertable else [],
                        "rollback_deployment": deployment and draw(st.booleans())},
        }
        if draw(st.booleans()):
            alarm["datapoints_to_alarm"] = draw(st.integers(1, evaluation))
        alarms[f"Alarm_{i}"] = alarm
    doc: dict[str, Any] = {
        "version": 1, "namespace": f"/voice-{draw(names)}/{draw(names)}", "metrics_namespace": "Test/Voice",
        "baseline": baseline, "cache_ttl_seconds": draw(st.integers(1, 60)), "variants": variants, "phases": phases,
        "alarms": alarms, "topics": {t: {"display_name": t.title()} for t in topics},
    }
    if deployment:
        doc["deployment"] = {"application": "app", "deployment_group": "group"}
    return doc


def dump(doc: dict[str, Any]) -> str:
    return yaml.safe_dump(doc, sort_keys=False, default_flow_style=False)


def load(doc: dict[str, Any]) -> tuple[str, LoadResult]:
    text = dump(doc)
    return text, load_text(text, "gen.yaml")


@FAST
@given(registries())
def test_valid_registries_validate_and_compile_deterministically(doc: dict[str, Any]) -> None:
    text, result = load(doc)
    assert result.errors == [], "\n".join(map(str, result.diagnostics)) + "\n" + text
    assert result.registry is not None
    first = compile_plan(result.registry).to_json()
    assert compile_plan(load_text(text, "gen.yaml").registry).to_json() == first  # type: ignore[arg-type]
    # Round trip: the model dumped back to YAML and reloaded compiles to the same bytes.
    reloaded = load_text(dump(result.registry.model_dump(mode="json", exclude_none=True)), "again.yaml")
    assert reloaded.errors == []
    assert reloaded.registry is not None
    assert compile_plan(reloaded.registry).to_json() == first
    value = json.loads(compile_plan(result.registry).parameters[0].value)
    jsonschema.validate(value, COMPILED_SCHEMA)


def line_of(text: str, needle: str, occurrence: int = 0) -> int:
    hits = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[occurrence]


def error_lines(result: LoadResult, substring: str) -> list[int]:
    return [d.location.line for d in result.errors if substring in d.message]


@FAST
@given(registries(), st.data())
def test_changing_one_weight_is_reported_at_that_phase(doc: dict[str, Any], data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(doc["phases"]) - 1))
    weights = doc["phases"][i]["weights"]
    name = data.draw(st.sampled_from(sorted(weights)))
    weights[name] += 1 if weights[name] < 100 else -1
    text, result = load(doc)
    where = parse_yaml(text, "gen.yaml").source.values[("phases", i, "weights")]
    assert error_lines(result, " sum to ") == [where.line]
    # The weights block's first line; the dumper quotes names YAML 1.1 would read as booleans ('no', 'on').
    first = next(iter(weights))
    assert text.splitlines()[where.line - 1].strip().startswith((f"{first}:", f"'{first}':", f'"{first}":'))
    assert result.registry is None


@FAST
@given(registries(), st.data())
def test_renaming_a_referenced_variant_is_reported_where_it_is_referenced(doc: dict[str, Any],
                                                                           data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(doc["phases"]) - 1))
    weights = doc["phases"][i]["weights"]
    old = data.draw(st.sampled_from(sorted(weights)))
    weights["zz-undeclared"] = weights.pop(old)
    text, result = load(doc)
    assert error_lines(result, "undeclared variant 'zz-undeclared'") == [line_of(text, "zz-undeclared:")]


@FAST
@given(registries(), st.data())
def test_a_bad_period_is_reported_at_its_line(doc: dict[str, Any], data: st.DataObject) -> None:
    if not doc["alarms"]:
        doc["alarms"]["Alarm_x"] = {"metric": "m", "statistic": "Sum", "period": 60, "evaluation_periods": 1,
                                    "threshold": 1, "comparison": "GreaterThanThreshold"}
    name = data.draw(st.sampled_from(sorted(doc["alarms"])))
    doc["alarms"][name]["period"] = data.draw(st.sampled_from([45, 90, 7, 0]))
    bad = doc["alarms"][name]["period"]
    text, result = load(doc)
    assert error_lines(result, f"period {bad} is not allowed") == [line_of(text, f"  period: {bad}")]


@FAST
@given(registries(), st.data())
def test_a_bad_statistic_is_reported_at_its_line(doc: dict[str, Any], data: st.DataObject) -> None:
    assume(doc["alarms"])
    name = data.draw(st.sampled_from(sorted(doc["alarms"])))
    doc["alarms"][name]["statistic"] = data.draw(st.sampled_from(["P95", "avg", "p101", "median"]))
    text, result = load(doc)
    bad = doc["alarms"][name]["statistic"]
    assert error_lines(result, f"statistic {bad!r} is not valid") == [line_of(text, f"statistic: {bad}")]


@FAST
@given(registries())
def test_an_internal_only_baseline_is_reported_at_the_baseline_line(doc: dict[str, Any]) -> None:
    doc["variants"][doc["baseline"]]["internal_only"] = True
    text, result = load(doc)
    assert error_lines(result, "is internal_only") == [line_of(text, "baseline:")]


@FAST
@given(registries())
def test_a_duplicate_phase_name_is_reported_at_the_second_one(doc: dict[str, Any]) -> None:
    first = doc["phases"][0]
    doc["phases"].append({**first, "gates": []})
    text, result = load(doc)
    assert error_lines(result, "is used twice") == [line_of(text, f"name: {first['name']}", occurrence=1)]


KEYS = ["version", "namespace", "baseline", "variants", "phases", "paths", "alarms", "topics", "deployment",
        "pricing", "weights", "name", "gates", "statistic", "period", "actions", "revert", "notify", "metric",
        "below", "approval", "bake", "internal_weights", "decommission", "after", "variant", "transport", "x", 1, True]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 200), st.floats(), st.text(max_size=6),
                    st.sampled_from(["p95", "Sum", "48h", "/a/b", "sse", "sonic-unified"]))
trees = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                      st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)),
                     max_leaves=20)
EXAMPLE_DOC = yaml.safe_load((Path(__file__).resolve().parents[2] / "examples" / "voice-m2.yaml").read_text())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees, st.sampled_from(sorted(EXAMPLE_DOC)))
def test_loading_never_raises_and_every_error_is_located(garbage: Any, section: str) -> None:
    """Any YAML, alone or grafted into the example in place of one section: diagnostics, never an exception."""
    for doc in (garbage, {**EXAMPLE_DOC, section: garbage}):
        text = yaml.safe_dump(doc)
        result = load_text(text, "fuzz.yaml")
        lines = text.count("\n") + 1
        assert all(1 <= d.location.line <= lines for d in result.diagnostics)
        assert (result.registry is None) == bool(result.errors)
