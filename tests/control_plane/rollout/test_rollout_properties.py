"""Properties of the gate statistics and the guard (hypothesis, seeded by its database-free default)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from control_plane.rollout.gates import GateResult, Observation, Verdict, compute_statistic, judge_metric
from control_plane.rollout.guard import Facts, decide
from control_plane.rollout.machine import Step
from registry.model import MetricGate

T0 = datetime(2026, 5, 1, tzinfo=UTC)
samples = st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=300)


@given(samples)
def test_percentiles_are_ordered_and_are_samples(values: list[float]) -> None:
    p50, p95, p99 = (compute_statistic(values, s) for s in ("p50", "p95", "p99"))
    assert p50 is not None and p95 is not None and p99 is not None
    assert min(values) <= p50 <= p95 <= p99 <= max(values)
    assert p95 in values


@given(samples, st.floats(min_value=0, max_value=1e6, allow_nan=False))
def test_a_below_gate_passes_exactly_when_the_value_is_below(values: list[float], limit: float) -> None:
    gate = MetricGate(metric="M", statistic="p95", below=limit)
    value = compute_statistic(values, "p95")
    verdict = judge_metric(gate, Observation(value, len(values))).verdict
    assert verdict is (Verdict.PASS if value is not None and value < limit else Verdict.FAIL)


verdicts = st.lists(st.sampled_from(list(Verdict)), max_size=6)
states = st.dictionaries(st.sampled_from(["A", "B", "C"]), st.sampled_from(["OK", "ALARM", "INSUFFICIENT_DATA", None]))


@settings(max_examples=300)
@given(verdicts, states, st.integers(min_value=0, max_value=100), st.integers(min_value=0, max_value=100))
def test_the_guard_allows_only_when_every_condition_holds(gates: list[Verdict], alarms: dict[str, str | None],
                                                          bake_h: int, age_h: int) -> None:
    results = [GateResult("metric", f"g{i}", "< 1", 0.0, v, "r") for i, v in enumerate(gates)]
    decision = decide(Facts(step=Step("A", "B", None), now=T0 + timedelta(hours=age_h), entered_at=T0,
                            bake_seconds=bake_h * 3600, gates=results, alarms=alarms))
    expected = (age_h >= bake_h and all(v is Verdict.PASS for v in gates)
                and all(s in ("OK", "INSUFFICIENT_DATA") for s in alarms.values()))
    assert decision.allowed is expected
    assert decision.allowed is (decision.reasons == ())
    if not decision.allowed and decision.earliest is not None:  # only time stands in the way
        assert decision.earliest == T0 + timedelta(hours=bake_h)
