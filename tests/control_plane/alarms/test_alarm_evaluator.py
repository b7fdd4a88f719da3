"""The local evaluator against CloudWatch's documented behaviour (AlarmThatSendsEmail.md, awsdocs).

The two tables of "How alarm state is evaluated when data is missing" are reproduced row by row: the
datapoints column lists the 5 datapoints of the evaluation range with the most recent on the right;
0 = not breaching, X = breaching, - = missing.
"""

from __future__ import annotations

import json

import pytest

from control_plane.alarms.evaluator import (
    AlarmStatus,
    Evaluator,
    breaches,
    datapoints,
    decide,
    definitions_from_registry,
    evaluate,
)
from control_plane.alarms.samples import SampleStore
from control_plane.alarms.states import AlarmState
from control_plane.alarms.statistics import UnsupportedStatistic, aggregate, percentile
from registry.loader import load_registry
from registry.model import Comparison, MissingData
from tests.control_plane.alarms.conftest import T0, p95_alarm, ttfa

RETAIN = "retain"
ALARM, OK, INSUFFICIENT = AlarmState.ALARM, AlarmState.OK, AlarmState.INSUFFICIENT_DATA
TREATMENTS = (MissingData.MISSING, MissingData.IGNORE, MissingData.BREACHING, MissingData.NOT_BREACHING)


def flags(text: str) -> list[bool | None]:
    return [{"0": False, "X": True, "-": None}[c] for c in text.split()]


# Table 1: DatapointsToAlarm = EvaluationPeriods = 3 (columns: MISSING, IGNORE, BREACHING, NOT BREACHING).
TABLE_3_OF_3 = [
    pytest.param("0 - X - X", (OK, OK, OK, OK), id="row1-enough-real-points-missing-data-unused"),
    pytest.param("0 - - - -", (OK, OK, OK, OK), id="row2-one-good-point-and-two-breaching-fills-stay-ok"),
    pytest.param("- - - - -", (INSUFFICIENT, RETAIN, ALARM, OK), id="row3-all-missing"),
    pytest.param("0 X X - X", (ALARM, ALARM, ALARM, ALARM), id="row4-three-most-recent-real-breach"),
    pytest.param("- - X - -", (ALARM, RETAIN, ALARM, OK), id="row5-premature-alarm"),
]
# Table 2: a 2 out of 3 alarm (DatapointsToAlarm 2, EvaluationPeriods 3).
TABLE_2_OF_3 = [
    pytest.param("0 - X - X", (ALARM, ALARM, ALARM, ALARM), id="row1"),
    pytest.param("0 0 X 0 X", (ALARM, ALARM, ALARM, ALARM), id="row2-older-points-ignored"),
    pytest.param("0 - X - -", (OK, OK, ALARM, OK), id="row3-one-fill"),
    pytest.param("- - - - 0", (OK, OK, ALARM, OK), id="row4-two-breaching-fills"),
    pytest.param("- - - X -", (ALARM, RETAIN, ALARM, OK), id="row5-premature-alarm"),
]


@pytest.mark.parametrize(("points", "expected"), TABLE_3_OF_3)
def test_docs_missing_data_table_3_out_of_3(points: str, expected: tuple[object, ...]) -> None:
    for treat, want in zip(TREATMENTS, expected, strict=True):
        outcome = decide(flags(points), 3, 3, treat)
        assert (outcome.state or RETAIN) == want, f"{points} with {treat}"


@pytest.mark.parametrize(("points", "expected"), TABLE_2_OF_3)
def test_docs_missing_data_table_2_out_of_3(points: str, expected: tuple[object, ...]) -> None:
    for treat, want in zip(TREATMENTS, expected, strict=True):
        outcome = decide(flags(points), 2, 3, treat)
        assert (outcome.state or RETAIN) == want, f"{points} with {treat}"


def test_fills_only_the_shortfall() -> None:
    # "CloudWatch uses missing data points only as few times as possible": 1 real point, N=3 -> 2 fills.
    outcome = decide(flags("0 - - - -"), 3, 3, MissingData.BREACHING)
    assert (outcome.filled, outcome.breaching, outcome.state) == (2, 2, OK)


def test_docs_graph_example_3_of_3_alarm_then_ok_then_single_breach_stays_ok() -> None:
    # "Evaluating an alarm": threshold 3, N = M = 3; ALARM in periods 3-5, OK at period 6, one breach at 9.
    values = [1, 2, 4, 5, 4, 2, 1, 2, 4, 2]
    states = []
    for end in range(1, len(values) + 1):
        window = [breaches(v, Comparison.GREATER_THAN, 3) for v in values[max(0, end - 5):end]]
        states.append(decide([None] * (5 - len(window)) + window, 3, 3, MissingData.MISSING).state)
    assert states[4] is ALARM
    assert states[5] is OK
    assert states[8] is OK


@pytest.mark.parametrize(
    ("comparison", "value", "expected"),
    [
        pytest.param(Comparison.GREATER_THAN, 800.0, False, id="gt-equal-is-not-breaching"),
        pytest.param(Comparison.GREATER_THAN, 800.1, True, id="gt-above"),
        pytest.param(Comparison.GREATER_THAN_OR_EQUAL, 800.0, True, id="ge-equal"),
        pytest.param(Comparison.LESS_THAN, 800.0, False, id="lt-equal"),
        pytest.param(Comparison.LESS_THAN, 799.9, True, id="lt-below"),
        pytest.param(Comparison.LESS_THAN_OR_EQUAL, 800.0, True, id="le-equal"),
        pytest.param(Comparison.LESS_THAN_OR_EQUAL, 800.1, False, id="le-above"),
    ],
)
def test_comparison_operators(comparison: Comparison, value: float, expected: bool) -> None:
    assert breaches(value, comparison, 800.0) is expected


@pytest.mark.parametrize(
    ("statistic", "expected"),
    [
        ("SampleCount", 10.0), ("Average", 5.5), ("Sum", 55.0), ("Minimum", 1.0), ("Maximum", 10.0),
        ("p50", 5.0), ("p95", 10.0), ("p90", 9.0), ("p10", 1.0), ("p99.9", 10.0), ("p100", 10.0), ("p0", 1.0),
    ],
)
def test_statistics_from_raw_samples(statistic: str, expected: float) -> None:
    assert aggregate([float(v) for v in range(10, 0, -1)], statistic) == expected


def test_percentile_is_nearest_rank_and_always_an_observed_value() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 95) == 95.0
    assert percentile(values, 95.5) == 96.0
    assert percentile([700.0], 95) == 700.0


def test_unsupported_statistic_is_a_clear_error() -> None:
    with pytest.raises(UnsupportedStatistic, match="tm90"):
        aggregate([1.0], "tm90")


def test_period_aggregation_uses_complete_periods_and_exact_dimensions() -> None:
    store = SampleStore()
    for i in range(20):
        store.add(ttfa(100.0 + i * 50, T0 + i))  # 100..1050: p95 (rank 19) = 1000
    store.add(ttfa(5000.0, T0 + 5, variant="transcribe-polly-baseline"))  # another metric: not seen
    store.add(ttfa(9999.0, T0 + 300))  # next period, not complete at T0 + 300
    points = datapoints(p95_alarm(), store, T0 + 300)
    assert [p.value for p in points] == [None, None, None, 1000.0]
    assert points[-1].sample_count == 20
    assert points[-1].breaching is True


def test_p95_breach_goes_to_alarm_after_two_periods_with_reason() -> None:
    evaluator = Evaluator([p95_alarm()])
    evaluator.ingest(ttfa(900.0 + i, T0 + i * 10) for i in range(60))  # two periods of breaching turns
    first = evaluator.tick(T0)
    assert [t.state for t in first] == [OK]  # notBreaching: no data -> OK
    assert evaluator.tick(T0 + 300) == []  # one breaching period: not yet (2 of 2 needed)
    fired = evaluator.tick(T0 + 600)
    assert [t.state for t in fired] == [ALARM]
    reason = fired[0].current.reason
    assert reason.startswith("Threshold Crossed: 2 out of the last 2 datapoints [")
    assert "were greater than the threshold (800.0) (minimum 2 datapoints for OK -> ALARM transition)." in reason
    data = json.loads(fired[0].current.reason_data)
    assert data["extendedStatistic"] == "p95" and data["threshold"] == 800.0
    assert data["recentDatapoints"][0] > 800


def test_actions_only_on_transition_not_while_state_holds() -> None:
    evaluator = Evaluator([p95_alarm()])
    evaluator.ingest(ttfa(950.0, T0 + i * 30) for i in range(100))
    transitions = [t for now in range(T0, T0 + 3000, 60) for t in evaluator.tick(now)]
    assert [t.state for t in transitions] == [OK, ALARM]
    assert evaluator.state("VoiceM2_P95_Breach") is ALARM


def test_recovery_goes_back_to_ok_with_not_breaching_reason() -> None:
    evaluator = Evaluator([p95_alarm()])
    evaluator.ingest(ttfa(950.0, T0 + i) for i in range(0, 600, 20))
    evaluator.ingest(ttfa(300.0, T0 + i) for i in range(600, 1200, 20))
    states = [(now, t.state, t.current.reason) for now in range(T0, T0 + 1500, 300) for t in evaluator.tick(now)]
    assert [s for _, s, _ in states] == [OK, ALARM, OK]
    assert states[2][0] == T0 + 900
    assert "was not greater than the threshold (800.0)" in states[2][2] or "were not greater" in states[2][2]


def test_missing_treatment_insufficient_data_reason() -> None:
    alarm = p95_alarm(treat_missing_data=MissingData.MISSING)
    status, transition = evaluate(alarm, SampleStore(), T0, AlarmStatus(OK, "x", "", 0))
    assert transition is not None and status.state is INSUFFICIENT
    assert status.reason == "Insufficient Data: 2 datapoints were unknown."  # the N evaluated, not the range


def test_ignore_keeps_current_state_when_all_missing() -> None:
    alarm = p95_alarm(treat_missing_data=MissingData.IGNORE)
    before = AlarmStatus(ALARM, "earlier", "", 0)
    status, transition = evaluate(alarm, SampleStore(), T0, before)
    assert transition is None and status is before


def test_m_out_of_n_with_datapoints_to_alarm() -> None:
    alarm = p95_alarm(evaluation_periods=3, datapoints_to_alarm=2, statistic="Maximum",
                      treat_missing_data=MissingData.MISSING)
    store = SampleStore()
    for period, value in enumerate([900.0, 100.0, 900.0]):  # X 0 X: 2 of 3 breach
        store.add(ttfa(value, T0 + period * 300))
    status, transition = evaluate(alarm, store, T0 + 900, AlarmStatus.initial())
    assert status.state is ALARM and transition is not None
    assert "2 out of the last 3 datapoints" in status.reason


def test_definitions_from_the_example_registry(example_path: object) -> None:
    alarms = {a.name: a for a in definitions_from_registry(load_registry(example_path))}  # type: ignore[arg-type]
    p95 = alarms["VoiceM2_P95_Breach"]
    assert (p95.statistic, p95.period, p95.evaluation_periods, p95.datapoints_to_alarm) == ("p95", 300, 2, 2)
    assert p95.revert == ("sonic-unified",) and p95.rollback_deployment
    assert alarms["VoiceM2_Bedrock_Error_Spike"].namespace == "AWS/Bedrock"


def test_reason_counts_filled_datapoints_like_cloudwatch() -> None:
    alarm = p95_alarm(evaluation_periods=3, datapoints_to_alarm=2, treat_missing_data=MissingData.BREACHING)
    store = SampleStore()
    store.add(ttfa(100.0, T0))  # one real, non-breaching datapoint; two missing ones filled as breaching
    status, _ = evaluate(alarm, store, T0 + 600, AlarmStatus.initial())
    assert status.state is ALARM
    assert status.reason.startswith("Threshold Crossed: 0 out of the last 3 datapoints [100.0 (")
    assert status.reason.endswith(" and 2 missing datapoints were treated as [Breaching] (minimum 2 datapoints for "
                                  "OK -> ALARM transition).")
    empty, _ = evaluate(alarm, SampleStore(), T0 + 600, AlarmStatus.initial())
    assert empty.reason == ("Threshold Crossed: no datapoints were received for 3 periods and 3 missing datapoints "
                            "were treated as [Breaching].")
