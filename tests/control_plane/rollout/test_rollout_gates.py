"""Gate statistics and verdicts, pure: p50/p95 from in-memory datapoints, missing data holds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from control_plane.rollout.gates import (
    Observation,
    Verdict,
    approval_gate_for,
    approval_records,
    compute_statistic,
    gate_window,
    judge_approval,
    judge_metric,
    param_approval_of,
)
from registry.errors import UsageError
from registry.live_state import ApprovalRecord
from registry.loader import load_registry
from registry.model import ApprovalGate, MetricGate

T0 = datetime(2026, 5, 1, tzinfo=UTC)
TTFA = [float(v) for v in range(1, 101)]  # 1..100 ms


@pytest.mark.parametrize(("statistic", "expected"), [
    pytest.param("p50", 50.0, id="p50-nearest-rank"),
    pytest.param("p95", 95.0, id="p95"),
    pytest.param("p99.9", 100.0, id="p99.9"),
    pytest.param("p100", 100.0, id="p100-is-max"),
    pytest.param("Average", 50.5, id="average"),
    pytest.param("Sum", 5050.0, id="sum"),
    pytest.param("Minimum", 1.0, id="min"),
    pytest.param("Maximum", 100.0, id="max"),
    pytest.param("SampleCount", 100.0, id="count"),
    pytest.param("TM(10:90)", 50.5, id="trimmed-mean-value-bounds-lower-exclusive-upper-inclusive"),
])
def test_statistics_of_raw_samples(statistic: str, expected: float) -> None:
    assert compute_statistic(TTFA, statistic) == pytest.approx(expected)


def test_percentile_of_an_unsorted_skewed_sample() -> None:
    values = [900.0, 120.0, 150.0, 130.0, 140.0, 2000.0, 110.0, 160.0, 170.0, 180.0]
    assert compute_statistic(values, "p50") == 150.0
    assert compute_statistic(values, "p95") == 2000.0


def test_no_samples_is_none_not_zero() -> None:
    assert compute_statistic([], "p50") is None
    assert compute_statistic([], "Average") is None
    assert compute_statistic([], "SampleCount") == 0.0


def test_unknown_statistic_is_rejected_by_name() -> None:
    with pytest.raises(ValueError, match="cannot be computed"):
        compute_statistic([1.0], "WM(10%:90%)")


GATE = MetricGate(metric="VoiceM2_TTFA_ms", statistic="p50", dimensions={"Variant": "sonic-unified"}, below=300)


@pytest.mark.parametrize(("observation", "verdict"), [
    pytest.param(Observation(250.0, 40), Verdict.PASS, id="below-limit"),
    pytest.param(Observation(300.0, 40), Verdict.FAIL, id="at-limit-fails-strict"),
    pytest.param(Observation(450.0, 40), Verdict.FAIL, id="above"),
    pytest.param(Observation(None, 0), Verdict.INCONCLUSIVE, id="missing-data-holds"),
    pytest.param(Observation(0.0, 0), Verdict.INCONCLUSIVE, id="zero-samples-holds"),
])
def test_metric_verdicts(observation: Observation, verdict: Verdict) -> None:
    result = judge_metric(GATE, observation)
    assert result.verdict is verdict
    assert result.limit == "< 300"


def test_failed_gate_names_value_and_limit() -> None:
    result = judge_metric(GATE, Observation(412.5, 10))
    assert result.reason == "VoiceM2_TTFA_ms p50 [Variant=sonic-unified] is 412.5, must be < 300"


def test_above_gate() -> None:
    gate = MetricGate(metric="Success", statistic="Average", above=0.99)
    assert judge_metric(gate, Observation(0.995, 5)).verdict is Verdict.PASS
    assert judge_metric(gate, Observation(0.98, 5)).verdict is Verdict.FAIL


def test_window_is_the_last_bake_or_since_entering() -> None:
    entered = T0
    assert gate_window(entered, 7200, T0 + timedelta(hours=1)).start == T0
    late = gate_window(entered, 7200, T0 + timedelta(hours=5))
    assert (late.start, late.end) == (T0 + timedelta(hours=3), T0 + timedelta(hours=5))
    assert gate_window(entered, 0, T0 + timedelta(hours=5)).start == T0 + timedelta(hours=4)


APPROVAL = ApprovalGate(approval="mirror_tone_quality", min_score=4, max_score=5)


def _approval(score: float, at: datetime) -> ApprovalRecord:
    return ApprovalRecord(phase="Phase2_Week2", approval="mirror_tone_quality", score=score, by="qa", at=at)


@pytest.mark.parametrize(("record", "verdict"), [
    pytest.param(None, Verdict.INCONCLUSIVE, id="not-recorded"),
    pytest.param(_approval(4.2, T0 + timedelta(hours=1)), Verdict.PASS, id="score-ok"),
    pytest.param(_approval(4.0, T0 + timedelta(hours=1)), Verdict.PASS, id="score-equal-min"),
    pytest.param(_approval(3.9, T0 + timedelta(hours=1)), Verdict.FAIL, id="score-low"),
    pytest.param(_approval(4.8, T0 - timedelta(hours=1)), Verdict.INCONCLUSIVE, id="predates-phase"),
])
def test_approval_verdicts(record: ApprovalRecord | None, verdict: Verdict) -> None:
    assert judge_approval(APPROVAL, record, T0).verdict is verdict


def test_approval_records_parse_by_phase_and_gate() -> None:
    ns = "/x"
    rec = _approval(4.5, T0)
    values = {param_approval_of(ns, "Phase2_Week2", "mirror_tone_quality"): rec.model_dump_json(),
              f"{ns}/approvals/broken/x": "{not json", f"{ns}/registry": "{}"}
    assert approval_records(ns, values) == {("Phase2_Week2", "mirror_tone_quality"): rec}


def test_approval_gate_for_validates_phase_gate_and_scale(example_path) -> None:  # type: ignore[no-untyped-def]
    registry = load_registry(example_path)
    assert approval_gate_for(registry, "Phase2_Week2", None, 4.2).approval == "mirror_tone_quality"
    with pytest.raises(UsageError, match=r"outside the gate's scale 0\.\.5"):
        approval_gate_for(registry, "Phase2_Week2", None, 7)
    with pytest.raises(UsageError, match="approval gates: none"):
        approval_gate_for(registry, "Phase3_Week4", None, 4)
    with pytest.raises(UsageError, match="unknown phase"):
        approval_gate_for(registry, "Nope", None, 4)
