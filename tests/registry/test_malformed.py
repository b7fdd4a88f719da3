"""A corpus of malformed registries: each is the example with one textual edit, and each must be reported with
its exact message at the exact line and column of the mistake (not the first line of its section)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from registry_corpus import edit, example_text, only_match, position

from registry.loader import load_text

ALARM1_TIMING = "    period: 300\n    evaluation_periods: 2\n    threshold: 800"
ALARM1_COMPARE = ("    comparison: GreaterThanThreshold\n    treat_missing_data: notBreaching\n    unit: Milliseconds\n"
                  "    actions: {notify: [voice-m2-oncall], revert")
ALARM1_DIMS = "    dimensions: {Variant: sonic-unified}\n" + ALARM1_TIMING
W_P3W4 = "{transcribe-polly-baseline: 95, sonic-unified: 5, sesame-csm1b: 0}"
P3_BAKE = "    bake: 48h\n    gates: &phase3_watch"
GATE_P1 = "statistic: p50, dimensions: {Variant: ws-echo}, below: 50,"


@dataclass(frozen=True)
class Case:
    old: str
    new: str
    message: str  # exact substring of the one error expected
    at: str  # unique text of the mutated file where the error must point (its first character)
    errors: int = 1  # how many errors the file has in total


CASES = [
    # YAML itself
    pytest.param(Case("version: 1\n", "version: [1\n", "YAML syntax error: expected ',' or ']', but got ':' "
                      "(while parsing a flow sequence started at line", ": /silentinfinity/voice"), id="syntax-flow"),
    pytest.param(Case("    transport: sse\n", "\ttransport: sse\n",
                      "YAML syntax error: found character '\\t' that cannot start any token", "\ttransport"),
                 id="syntax-tab"),
    pytest.param(Case("cache_ttl_seconds: 30 ", "cache_ttl_seconds: 30\nbaseline: sonic-unified\n#",
                      "duplicate key 'baseline' (first defined at line 8)", "baseline: sonic-unified"),
                 id="duplicate-top-level"),
    pytest.param(Case("    transport: sse\n", "    transport: sse\n    transport: websocket\n",
                      "duplicate key 'transport' (first defined at line 18)", "sse\n    »transport: websocket"),
                 id="duplicate-nested"),
    pytest.param(Case(W_P3W4, "{transcribe-polly-baseline: 95, sonic-unified: 5, sonic-unified: 0}",
                      "duplicate key 'sonic-unified'", "sonic-unified: 0}"), id="duplicate-in-flow-mapping"),
    pytest.param(Case("  VoiceM2_TTFA_Regression:", "  VoiceM2_P95_Breach:", "duplicate key 'VoiceM2_P95_Breach'",
                      "VoiceM2_P95_Breach:\n    description: M2 TTFA"), id="duplicate-alarm-name"),
    pytest.param(Case("    transport: sse\n", "    transport: sse\n    on: true\n",
                      "a mapping key must be a name or a number, not True", "on: true"), id="yaml-1.1-boolean-key"),
    pytest.param(Case("version: 1\n", "version: !!python/object:os.system 1\n",
                      "YAML error: could not determine a constructor for the tag", "!!python"), id="unsafe-tag"),
    pytest.param(Case("  VoiceM2_TTFA_Regression:", "  2:", "key 2 in alarms must be a name, not int", "2:\n"),
                 id="numeric-alarm-name"),
    pytest.param(Case(W_P3W4, W_P3W4.replace("sonic-unified: 5", "5: 5"),
                      "key 5 in phases[Phase3_Week4].weights must be a name, not int", "5: 5"),
                 id="numeric-weight-key"),
    # unknown keys
    # unknown keys
    pytest.param(Case("cache_ttl_seconds: 30", "cache_ttl_second: 30",
                      "unknown key 'cache_ttl_second' at the top level", "cache_ttl_second"), id="unknown-top-level"),
    pytest.param(Case("    barge_in_enabled: true\n", "    barge_in_enable: true\n",
                      "unknown key 'barge_in_enable' in variants.sonic-unified", "barge_in_enable:"),
                 id="unknown-variant-key"),
    pytest.param(Case(ALARM1_TIMING, ALARM1_TIMING.replace("evaluation_periods", "evaluation_period"),
                      "unknown key 'evaluation_period' in alarms.VoiceM2_P95_Breach", "evaluation_period: 2"),
                 id="misspelt-required-alarm-key"),
    pytest.param(Case(GATE_P1, GATE_P1.replace("statistic", "statistc"),
                      "unknown key 'statistc' in phases[Phase1_Week1].gates[0]", "statistc"),
                 id="unknown-key-in-flow-gate"),
    pytest.param(Case("min_score: 4,", "min_scor: 4,", "unknown key 'min_scor' in phases[Phase2_Week2].gates[3]",
                      "min_scor"), id="unknown-key-in-approval-gate"),
    # wrong types
    pytest.param(Case(ALARM1_TIMING, ALARM1_TIMING.replace("300", "'300'"),
                      "alarms.VoiceM2_P95_Breach.period must be a whole number (got '300')", "'300'"),
                 id="string-period"),
    pytest.param(Case(W_P3W4, W_P3W4.replace("unified: 5", "unified: 5.0"),
                      "phases[Phase3_Week4].weights.sonic-unified must be a whole number (got 5.0)", "5.0"),
                 id="float-weight"),
    pytest.param(Case(W_P3W4, W_P3W4.replace("unified: 5", "unified: true"),
                      "phases[Phase3_Week4].weights.sonic-unified must be a whole number (got True)", "true, sesame"),
                 id="bool-weight"),
    pytest.param(Case("    internal_only: false\n    min_sdk", "    internal_only: 'no'\n    min_sdk",
                      "variants.transcribe-polly-baseline.internal_only must be true or false (got 'no')", "'no'"),
                 id="string-bool"),
    # weights
    pytest.param(Case(W_P3W4, W_P3W4.replace("unified: 5", "unified: 6"),
                      "weights of phase 'Phase3_Week4' sum to 101, not 100",
                      "{transcribe-polly-baseline: 95, sonic-unified: 6"), id="weights-not-100"),
    pytest.param(Case(W_P3W4, W_P3W4.replace("sonic-unified: 5", "sonic-unifed: 5"),
                      "weights of phase 'Phase3_Week4': undeclared variant 'sonic-unifed'", "sonic-unifed"),
                 id="undeclared-weight"),
    pytest.param(Case(W_P3W4, W_P3W4.replace("95", "195").replace("unified: 5", "unified: -95"),
                      "weights of phase 'Phase3_Week4': 'transcribe-polly-baseline' is 195; weights are whole "
                      "percents 0..100", "195",
                      errors=2), id="weight-over-100"),
    pytest.param(Case("internal_weights: {transcribe-polly-baseline: 0, ws-echo: 100}",
                      "internal_weights: {transcribe-polly-baseline: 0, ws-echoo: 100}",
                      "internal_weights of phase 'Phase1_Week1': undeclared variant 'ws-echoo'", "ws-echoo"),
                 id="undeclared-internal-weight"),
    pytest.param(Case("    weights: {transcribe-polly-baseline: 100, sonic-unified: 0, sesame-csm1b: 0}\n"
                      "    internal_weights: {transcribe-polly-baseline: 0, ws-echo: 100}",
                      "    weights: [transcribe-polly-baseline]\n"
                      "    internal_weights: {transcribe-polly-baseline: 0, ws-echo: 100}",
                      "phases[Phase1_Week1].weights must be a mapping (key: value)", "[transcribe-polly-baseline]"),
                 id="weights-as-list"),
    # phases
    pytest.param(Case("  - name: Phase3_Week5", "  - name: Phase3_Week4",
                      "phase name 'Phase3_Week4' is used twice (first at line 83)",
                      "Phase3_Week4\n    weights: {transcribe-polly-baseline: 75"), id="duplicate-phase"),
    pytest.param(Case("      - name: PathB_CSM_Internal", "      - name: Phase2_Week2",
                      "phase name 'Phase2_Week2' is used twice (first at line 71)",
                      "Phase2_Week2\n        weights"), id="duplicate-phase-across-paths"),
    pytest.param(Case(P3_BAKE, P3_BAKE.replace("48h", "48 hours"), "invalid duration '48 hours'", "bake: »48 hours"),
                 id="bake-words"),
    pytest.param(Case(P3_BAKE, P3_BAKE.replace("48h", "0x"), "invalid duration '0x'", "0x\n"), id="bake-unit"),
    pytest.param(Case("branches_from: Phase2_Week2", "branches_from: Phase2_Week3",
                      "path 'csm-fallback' branches from unknown phase 'Phase2_Week3'", "Phase2_Week3"),
                 id="branches-from-unknown"),
    pytest.param(Case("{after: 14d, action: deprecate, variant: transcribe-polly-baseline",
                      "{after: 14d, action: deprecate, variant: sonic-unified",
                      "cannot deprecate 'sonic-unified' in phase 'Phase4_Week7', which still gives it 100%",
                      "{after: 14d"), id="deprecate-weighted-variant"),
    pytest.param(Case("action: scale_to_zero,", "action: scale_to_nothing,",
                      "phases[Phase4_Week7].decommission[1].action: Input should be", "scale_to_nothing"),
                 id="bad-enum-in-flow-mapping"),
    pytest.param(Case("min_score: 4, max_score: 5", "min_score: 6, max_score: 5",
                      "min_score 6.0 must be between 0 and max_score 5.0", "6, max_score"), id="approval-score"),
    pytest.param(Case("{after: 72h, action", "{after: soon, action",
                      "phases[Phase4_Week7].decommission[1].after: invalid duration 'soon'", "soon"),
                 id="decommission-after"),
    pytest.param(Case("phases:\n  - name: Phase1_Week1", "phasez:\n  - name: Phase1_Week1",
                      "unknown key 'phasez' at the top level", "phasez"), id="misspelt-section"),
    # baseline
    pytest.param(Case("baseline: transcribe-polly-baseline ", "baseline: transcribe-polly ",
                      "baseline 'transcribe-polly' is not a declared variant", "transcribe-polly "),
                 id="baseline-undeclared"),
    pytest.param(Case("    internal_only: false\n    min_sdk", "    internal_only: true\n    min_sdk",
                      "baseline 'transcribe-polly-baseline' is internal_only", "transcribe-polly-baseline       "),
                 id="baseline-internal-only"),
    pytest.param(Case("    deprecated: false   ", "    deprecated: true   ",
                      "baseline 'transcribe-polly-baseline' is deprecated", "transcribe-polly-baseline       "),
                 id="baseline-deprecated"),
    # alarms
    pytest.param(Case("    statistic: p95\n", "    statistic: p101\n", "statistic 'p101' is not valid for CloudWatch",
                      "p101"), id="statistic-p101"),
    pytest.param(Case("    statistic: p95\n", "    statistic: P95\n", "statistic 'P95' is not valid for CloudWatch",
                      "statistic: »P95"), id="statistic-upper-case"),
    pytest.param(Case("    statistic: p95\n", "    statistic: avg\n", "statistic 'avg' is not valid for CloudWatch",
                      "avg"), id="statistic-avg"),
    pytest.param(Case(ALARM1_TIMING, ALARM1_TIMING.replace("300", "45"), "period 45 is not allowed", "45\n"),
                 id="period-45"),
    pytest.param(Case(ALARM1_TIMING, ALARM1_TIMING.replace("300", "90"), "period 90 is not allowed", "90\n"),
                 id="period-90"),
    pytest.param(Case(ALARM1_TIMING, ALARM1_TIMING.replace("300", "15"), "CloudWatch takes 10, 20, 30 or a multiple "
                      "of 60 seconds", "15\n"), id="period-15"),
    pytest.param(Case(ALARM1_TIMING, ALARM1_TIMING.replace("periods: 2", "periods: 0"),
                      "evaluation_periods must be at least 1", "0\n    threshold: 800"), id="evaluation-periods-0"),
    pytest.param(Case(ALARM1_TIMING, ALARM1_TIMING.replace("periods: 2", "periods: 300"),
                      "period x evaluation_periods = 90000 s exceeds CloudWatch's one-day limit for periods under an "
                      "hour (86400 s)", "periods: »300"), id="evaluation-over-a-day"),
    pytest.param(Case(ALARM1_TIMING, ALARM1_TIMING.replace("300", "3600").replace("periods: 2", "periods: 169"),
                      "period x evaluation_periods = 608400 s exceeds CloudWatch's seven-day limit (604800 s)", "169"),
                 id="evaluation-over-a-week"),
    pytest.param(Case(ALARM1_TIMING, ALARM1_TIMING.replace("periods: 2", "periods: 2\n    datapoints_to_alarm: 3"),
                      "datapoints_to_alarm 3 must be between 1 and evaluation_periods (2)", "alarm: »3"),
                 id="datapoints-over-periods"),
    pytest.param(Case(ALARM1_COMPARE, ALARM1_COMPARE.replace("GreaterThanThreshold", "GreaterThan"),
                      "alarms.VoiceM2_P95_Breach.comparison: Input should be", "»GreaterThan\n    treat"),
                 id="bad-comparison"),
    pytest.param(Case(ALARM1_COMPARE, ALARM1_COMPARE.replace("notBreaching", "NotBreaching"),
                      "alarms.VoiceM2_P95_Breach.treat_missing_data: Input should be", "»NotBreaching"),
                 id="bad-treat-missing-data"),
    pytest.param(Case("revert: [sonic-unified], rollback", "revert: [transcribe-polly-baseline], rollback",
                      "alarm 'VoiceM2_P95_Breach' reverts the baseline 'transcribe-polly-baseline'",
                      "transcribe-polly-baseline], rollback"), id="revert-baseline"),
    pytest.param(Case("revert: [sonic-unified], rollback", "revert: [sonic], rollback",
                      "alarm 'VoiceM2_P95_Breach' reverts undeclared variant 'sonic'", "sonic], rollback"),
                 id="revert-undeclared"),
    pytest.param(Case("{notify: [voice-m2-engineering]}", "{notify: [voice-m2-eng]}",
                      "alarm 'VoiceM2_TTFA_Regression' notifies undeclared topic 'voice-m2-eng'", "voice-m2-eng]"),
                 id="undeclared-topic"),
    pytest.param(Case("deployment:                               # the CodeDeploy canary that VoiceM2_P95_Breach "
                      "rolls back\n  application: voice-m2-runtime\n  deployment_group: voice-m2-relay-canary\n", "",
                      "alarm 'VoiceM2_P95_Breach' asks for a deployment rollback but the file has no deployment: "
                      "section", "true}"), id="rollback-without-deployment"),
    pytest.param(Case(ALARM1_DIMS, ALARM1_DIMS.replace("{Variant:", "{'Vari ant':"),
                      "dimension name 'Vari ant' is not valid for CloudWatch", "'Vari ant'"), id="bad-dimension-name"),
    pytest.param(Case(ALARM1_DIMS, ALARM1_DIMS.replace("sonic-unified}", "sonic}"),
                      "dimension Variant names undeclared variant 'sonic'", "sonic}"),
                 id="dimension-undeclared-variant"),
    pytest.param(Case("    metric: InvocationErrors\n", "", "missing required key 'metric' in "
                      "alarms.VoiceM2_Bedrock_Error_Spike", "description: Bedrock service"), id="missing-required-key"),
    # gates
    pytest.param(Case(GATE_P1, GATE_P1 + " above: 1,", "a metric gate takes one of below: or above:, not both",
                      "above: 1"), id="gate-below-and-above"),
    pytest.param(Case(GATE_P1, GATE_P1.replace(" below: 50,", ""), "a metric gate needs a limit: below: or above:",
                      "{metric: VoiceM2_TTFA_ms, statistic: p50, dimensions: {Variant: ws-echo},"),
                 id="gate-without-limit"),
    pytest.param(Case(GATE_P1, GATE_P1.replace("p50", "median"), "gate statistic 'median' is not a CloudWatch "
                      "statistic", "median"), id="gate-statistic"),
    # namespace, version, variants, pricing
    pytest.param(Case("namespace: /silentinfinity/voice", "namespace: silentinfinity/voice",
                      "namespace must be an SSM path starting with '/'", "silentinfinity/voice"),
                 id="namespace-no-slash"),
    pytest.param(Case("namespace: /silentinfinity/voice", "namespace: /aws/voice",
                      "namespace '/aws/voice' uses a prefix SSM reserves (/aws, /ssm)", "/aws/voice"),
                 id="namespace-reserved"),
    pytest.param(Case("metrics_namespace: SilentInfinity/Voice", "metrics_namespace: AWS/Voice",
                      "metrics_namespace 'AWS/Voice' is reserved for AWS services", "AWS/Voice"),
                 id="metrics-namespace-reserved"),
    pytest.param(Case("version: 1\n", "version: 2\n", "version 2 is not supported", "2\nnamespace"), id="version-2"),
    pytest.param(Case("    bedrock_model_id: amazon.nova-sonic-v1:0\n", "",
                      "Nova Sonic variant 'sonic-unified' needs bedrock_model_id", "sonic-unified:\n    voice_stt"),
                 id="nova-without-model-id"),
    pytest.param(Case("cache_ttl_seconds: 30 ", "cache_ttl_seconds: 0 ",
                      "cache_ttl_seconds: Input should be greater than or equal to 1 (got 0)", "seconds: »0 "),
                 id="cache-ttl-0"),
    pytest.param(Case("    min_sdk_version: null", "    min_sdk_version: 1.2",
                      "variants.transcribe-polly-baseline.min_sdk_version must be a string (got 1.2)", "1.2"),
                 id="unquoted-version"),
    pytest.param(Case("{notify: [voice-m2-engineering]}", "{notify: ['voice m2']}",
                      "topic name 'voice m2' is not a valid SNS topic name", "'voice m2'"), id="bad-topic-name"),
    pytest.param(Case("    ws-echo:\n      - {item: API", "    ws-echoo:\n      - {item: API",
                      "pricing names undeclared variant 'ws-echoo'", "ws-echoo"), id="pricing-undeclared-variant"),
]


@pytest.mark.parametrize("case", CASES)
def test_malformed_registry_is_reported_at_its_line(case: Case) -> None:
    text = edit(example_text(), case.old, case.new)
    result = load_text(text, "f.yaml")
    found = only_match(result.diagnostics, case.message)
    assert found.location == position(text, case.at)
    assert len(result.errors) == case.errors, "\n".join(map(str, result.diagnostics))
    assert result.registry is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("", "the file is empty", id="empty"),
        pytest.param("# only a comment\n\n", "the file is empty", id="comment-only"),
        pytest.param("- version: 1\n- namespace: /x\n", "the registry must be a mapping (version:, namespace:, "
                     "variants: ...), not a list", id="list-document"),
        pytest.param("~\n", "the registry must be a mapping (version:, namespace:, variants: ...), not a null",
                     id="null-document"),
        pytest.param("voice-m2\n", "the registry must be a mapping (version:, namespace:, variants: ...), not a str",
                     id="scalar-document"),
        pytest.param("version: 1\n---\nversion: 1\n", "YAML syntax error: expected a single document in the stream, "
                     "but found another document", id="two-docs"),
    ],
)
def test_documents_that_are_not_registries(text: str, message: str) -> None:
    result = load_text(text, "f.yaml")
    assert [d.message[: len(message)] for d in result.errors] == [message]
    assert result.errors[0].location.line == 1 or message.startswith("YAML")
    assert result.registry is None


def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 30
