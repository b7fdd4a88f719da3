"""registry.loader: the example loads clean; warnings; many mistakes in one file are all reported, in file order."""

from __future__ import annotations

from pathlib import Path

import pytest
from registry_corpus import EXAMPLE, edit, example_text, only_match, position

from registry.errors import RegistryInvalid
from registry.loader import load_file, load_registry, load_text


def test_example_is_valid_and_warns_only_that_phase4_deprecates_the_baseline() -> None:
    # The memo deprecates M1 two weeks after Phase 4 while it is still the revert target: the one warning.
    result = load_file(EXAMPLE)
    where = position(example_text(), "{after: 14d, action: deprecate")
    # ... and the two alarms that revert but cannot fire within the memo's 60 s RTO (2 x 300 s: 300-660 s).
    first = result.diagnostics[0]
    assert (first.severity, first.location.line) == ("warning", where.line)
    assert "deprecates the baseline 'transcribe-polly-baseline'" in result.diagnostics[0].message
    assert [d.message.split(" reverts ")[0] for d in result.diagnostics[1:]] == [
        "alarm 'VoiceM2_P95_Breach'", "alarm 'VoiceM2_Error_Rate_Breach'"]
    assert all(d.severity == "warning" and "sooner than 300 s" in d.message for d in result.diagnostics[1:])
    assert result.registry is not None
    assert list(result.registry.variants) == ["transcribe-polly-baseline", "ws-echo", "sonic-unified", "sesame-csm1b"]
    assert [p.name for p in result.registry.phases] == [
        "Phase1_Week1", "Phase2_Week2", "Phase3_Week4", "Phase3_Week5", "Phase4_Week6", "Phase4_Week7"]
    assert sorted(result.registry.alarms) == ["VoiceM2_Bedrock_Error_Spike", "VoiceM2_Error_Rate_Breach",
                                              "VoiceM2_P95_Breach", "VoiceM2_TTFA_Regression"]


# Each edit yields a legal file with exactly one warning, located where the suspicious thing is.
WARNINGS = [
    pytest.param(
        [("{transcribe-polly-baseline: 0, sonic-unified: 0, sesame-csm1b: 100}",
          "{transcribe-polly-baseline: 0, sonic-unified: 100, sesame-csm1b: 0}"),
         ("    actions: {revert: [sonic-unified]}", "    actions: {revert: [sonic-unified, sesame-csm1b]}"),
         ("{Variant: sesame-csm1b}, below: 400}", "{Variant: sonic-unified}, below: 400}")],
        "alarm 'VoiceM2_Bedrock_Error_Spike' reverts 'sesame-csm1b', which no phase ever gives traffic",
        "sonic-unified, »sesame-csm1b]", id="revert-of-unserved-variant"),
    pytest.param([("    bake: 7d\n    gates:\n      - {metric: VoiceM2_TTFA_ms, statistic: p50, dimensions: "
                   "{Variant: ws-echo}", "    gates:\n      - {metric: VoiceM2_TTFA_ms, statistic: p50, dimensions: "
                   "{Variant: ws-echo}")],
                 "phase 'Phase1_Week1' has gates but no bake",
                 "    »gates:\n      - {metric: VoiceM2_TTFA_ms, statistic: p50, dimensions: {Variant: ws-echo}",
                 id="gates-without-bake"),
    pytest.param([("{Variant: ws-echo}, below: 50", "{Variant: sonic-unified}, below: 50")],
                 "gate on 'sonic-unified' in phase 'Phase1_Week1', which gives it no traffic",
                 "{metric: VoiceM2_TTFA_ms, statistic: p50, dimensions: {Variant: sonic-unified}, below: 50",
                 id="gate-on-variant-without-traffic"),
    pytest.param([("    actions: {notify: [voice-m2-engineering]}", "    actions: {}")],
                 "alarm 'VoiceM2_TTFA_Regression' has no actions", "{}", id="alarm-without-actions"),
    pytest.param([("cache_ttl_seconds: 30 ", "cache_ttl_seconds: 120 ")], "cache_ttl_seconds 120 exceeds the memo's "
                 "60 s revert RTO", "120", id="cache-longer-than-rto"),
    pytest.param([("{transcribe-polly-baseline: 95, sonic-unified: 5, sesame-csm1b: 0}",
                   "{transcribe-polly-baseline: 95, sonic-unified: 0, sesame-csm1b: 5}")],
                 "phase 'Phase3_Week4' gives 5% to internal-only variant 'sesame-csm1b'", "sesame-csm1b: »5}",
                 id="internal-only-variant-weighted"),
]


@pytest.mark.parametrize(("edits", "message", "at"), WARNINGS)
def test_suspicious_but_legal_files_warn(edits: list[tuple[str, str]], message: str, at: str) -> None:
    text = example_text()
    for old, new in edits:
        text = edit(text, old, new)
    result = load_text(text, "f.yaml")
    assert result.errors == []
    assert result.registry is not None, "warnings never reject a file"
    found = only_match(result.diagnostics, message, severity="warning")
    assert found.location == position(text, at)


def test_gate_without_traffic_warns_for_each_gate_of_the_phase() -> None:
    # Phase3_Week4 loses its canary: its three gates on sonic-unified can never see data.
    text = edit(example_text(), "{transcribe-polly-baseline: 95, sonic-unified: 5, sesame-csm1b: 0}",
                "{transcribe-polly-baseline: 100, sonic-unified: 0, sesame-csm1b: 0}")
    result = load_text(text, "f.yaml")
    warned = [d for d in result.warnings if "in phase 'Phase3_Week4', which gives it no traffic" in d.message]
    assert len(warned) == 3
    assert result.registry is not None


MISTAKES = [
    # (old, new, message expected, where it must point)
    ("namespace: /silentinfinity/voice", "namespace: silentinfinity/voice",
     "namespace must be an SSM path starting with '/'", "silentinfinity/voice"),
    ("    barge_in_enabled: true\n", "    barge_in_enable: true\n",
     "unknown key 'barge_in_enable' in variants.sonic-unified", "»barge_in_enable: true"),
    ("  - name: Phase3_Week5", "  - name: Phase3_Week4", "phase name 'Phase3_Week4' is used twice",
     "Phase3_Week4\n    weights: {transcribe-polly-baseline: 75"),
    ("{transcribe-polly-baseline: 75, sonic-unified: 25,", "{transcribe-polly-baseline: 75, sonic-unified: 26,",
     "sum to 101, not 100", "{transcribe-polly-baseline: 75, sonic-unified: 26"),
    ("    statistic: p95\n", "    statistic: P95\n", "statistic 'P95' is not valid", "statistic: »P95"),
    ("    period: 60\n", "    period: 45\n", "period 45 is not allowed", "45"),
    ("    period: 600\n", "    period: '600'\n", "alarms.VoiceM2_TTFA_Regression.period must be a whole number",
     "'600'"),
    ("  voice-m2-engineering: {display_name", "  voice-m2-engineering: {display_nam",
     "unknown key 'display_nam' in topics.voice-m2-engineering", "»display_nam:"),
    ("  deployment_group: voice-m2-relay-canary", "  deployment_grp: voice-m2-relay-canary",
     "unknown key 'deployment_grp' in deployment", "deployment_grp"),
    ("    ws-echo:\n      - {item: API", "    ws-echoo:\n      - {item: API",
     "pricing names undeclared variant 'ws-echoo'", "ws-echoo"),
]


def test_several_mistakes_in_different_sections_are_all_reported_in_file_order() -> None:
    text = example_text()
    for old, new, _, _ in MISTAKES:
        text = edit(text, old, new)
    result = load_text(text, "f.yaml")
    got = [(d.location, d.message) for d in result.errors]
    assert len(got) == len(MISTAKES), "\n".join(map(str, result.diagnostics))
    for (location, message), (_, _, expected, at) in zip(got, MISTAKES, strict=True):
        assert expected in message
        assert location == position(text, at)
    assert [loc for loc, _ in got] == sorted(loc for loc, _ in got)


def test_broken_top_level_scalars_do_not_hide_the_rest() -> None:
    text = example_text()
    for old, new in [("version: 1", "version: 2"), ("baseline: transcribe-polly-baseline ", "baseline: [x] "),
                     ("    turns_per_month: 50000", "    turns_per_month: lots"),
                     ("revert: [sonic-unified], rollback", "revert: [sonic], rollback")]:
        text = edit(text, old, new)
    messages = [d.message for d in load_text(text, "f.yaml").errors]
    assert messages == [
        "version 2 is not supported: this release reads version 1 files",
        "baseline must be a string",
        "alarm 'VoiceM2_P95_Breach' reverts undeclared variant 'sonic'",
        "pricing.assumptions.turns_per_month must be a whole number (got 'lots')",
    ]


def test_a_broken_entry_does_not_cascade_into_reference_errors() -> None:
    # ws-echo's only traffic is in Phase1_Week1; that phase is broken, yet ws-echo is still known to be served
    # and Phase2_Week2 is still a valid branch point.
    text = edit(example_text(), "    weights: {transcribe-polly-baseline: 100, sonic-unified: 0, sesame-csm1b: 0}\n"
                "    internal_weights: {transcribe-polly-baseline: 0, ws-echo: 100}",
                "    weights: {transcribe-polly-baseline: 100.5, sonic-unified: 0, sesame-csm1b: 0}\n"
                "    internal_weights: {transcribe-polly-baseline: 0, ws-echo: 100}")
    result = load_text(text, "f.yaml")
    assert [d.message for d in result.errors] == [
        "phases[Phase1_Week1].weights.transcribe-polly-baseline must be a whole number (got 100.5)"]


def test_hints_name_the_fix() -> None:
    text = edit(example_text(), "    barge_in_enabled: true\n", "    barge_in_enable: true\n")
    found = only_match(load_text(text, "f.yaml").diagnostics, "barge_in_enable")
    assert found.hint == "did you mean 'barge_in_enabled'?"
    assert str(found).endswith("(fix: did you mean 'barge_in_enabled'?)")
    assert str(found).startswith(f"f.yaml:{found.location.line}:5: error: unknown key")


def test_load_registry_raises_with_every_diagnostic(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(edit(example_text(), "    statistic: p95\n", "    statistic: avg\n"))
    with pytest.raises(RegistryInvalid) as err:
        load_registry(bad)
    assert err.value.file == str(bad) and err.value.what == f"1 error(s) in {bad}"
    errors = [d for d in err.value.diagnostics if d.severity == "error"]
    assert [d.message for d in errors] == ["statistic 'avg' is not valid for CloudWatch"]
    assert errors[0].location.file == str(bad)


def test_unreadable_file_is_a_diagnostic(tmp_path: Path) -> None:
    result = load_file(tmp_path / "missing.yaml")
    assert result.registry is None
    assert result.errors[0].message == "cannot read the file: No such file or directory"
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00version")
    assert load_file(binary).errors[0].message.startswith("cannot read the file")


def test_a_mistake_in_an_aliased_block_is_reported_once() -> None:
    # Phase3_Week4 defines `gates: &phase3_watch`, reused by two more phases.
    text = edit(example_text(), "statistic: p50, dimensions: {Variant: sonic-unified}, below: 300}",
                "statistic: P50, dimensions: {Variant: sonic-unified}, below: 300}")
    result = load_text(text, "f.yaml")
    assert [str(d) for d in result.errors] == [
        f"f.yaml:{position(text, 'P50').line}:{position(text, 'P50').column}: error: gate statistic 'P50' is not a "
        "CloudWatch statistic (fix: write it in lower case: p50)"]
