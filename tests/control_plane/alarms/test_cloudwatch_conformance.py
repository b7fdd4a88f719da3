"""Conformance: the local evaluator against what AWS documents and what AWS wrote. Each case names its source
(tests/fixtures/SOURCES.md has the full references): UG = CloudWatch user guide, LS = LocalStack's AWS-validated
snapshot (tests/aws/services/cloudwatch/*.snapshot.json), CAP = a payload AWS sent to a user's account.

The missing-data tables (UG "How alarm state is evaluated when data is missing") are in test_alarm_evaluator.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from control_plane.alarms.backtest import backtest
from control_plane.alarms.detection import time_to_detect
from control_plane.alarms.evaluator import AlarmDefinition, AlarmStatus, Evaluator, Transition, evaluate
from control_plane.alarms.messages import AlarmConfig, eventbridge_event, lambda_event, sns_message, sns_subject
from control_plane.alarms.reasons import java_double
from control_plane.alarms.samples import Sample, SampleStore, dimensions_key
from control_plane.alarms.states import AlarmState
from control_plane.alarms.statistics import UnsupportedStatistic, aggregate, low_sample_count, percentile
from registry.model import Comparison, MissingData
from tests.control_plane.alarms.conftest import load_event

ALARM, OK, INSUFFICIENT = AlarmState.ALARM, AlarmState.OK, AlarmState.INSUFFICIENT_DATA
NS, METRIC = "Test/Ns", "m"


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def alarm(**kw: Any) -> AlarmDefinition:
    base: dict[str, Any] = dict(name="a", namespace=NS, metric=METRIC, dimensions=(), statistic="Average",
                                period=60, evaluation_periods=1, datapoints_to_alarm=1, threshold=0.0,
                                comparison=Comparison.GREATER_THAN, treat_missing_data=MissingData.MISSING)
    base.update(kw)
    return AlarmDefinition(**base)


def store(periods: dict[str, Sequence[float]]) -> SampleStore:
    """Samples by period start (ISO, UTC), each spread inside its period."""
    s = SampleStore()
    for start, values in periods.items():
        for i, v in enumerate(values):
            s.add(Sample(NS, METRIC, (), float(v), at(start) + 1 + i * 0.01))
    return s


def run(a: AlarmDefinition, s: SampleStore, now: str, before: AlarmState = INSUFFICIENT) -> AlarmStatus:
    status, _ = evaluate(a, s, at(now), AlarmStatus(before, "earlier", "", 0.0))
    return status


# --- evaluation window and cadence ----------------------------------------------------------------------------

def test_window_ends_at_the_last_whole_minute_not_a_period_multiple() -> None:
    # UG "Evaluating an alarm": "at the end of minute 6, the alarm is evaluated based on the data from minutes 2
    # to 6" (Period 300, Evaluation Periods 1). One breaching sample at T0 + 330 s: ALARM at T0 + 360 s.
    a = alarm(period=300, threshold=1.0)
    t0 = 1_800_000_000 - 1_800_000_000 % 300
    s = SampleStore()
    s.add(Sample(NS, METRIC, (), 5.0, t0 + 330))
    status, _ = evaluate(a, s, t0 + 360, AlarmStatus.initial())
    assert status.state is ALARM
    assert status.reason.startswith("Threshold Crossed: 1 out of the last 1 datapoints [5.0 (")


def test_high_resolution_alarms_are_evaluated_every_10_seconds() -> None:
    # UG: "If the alarm period is 10 seconds or 30 seconds, the alarm is evaluated every 10 seconds"; every
    # minute otherwise. 330 s of history of a 30 s alarm: evaluations at 0, 10, ..., 330 s.
    t0 = 1_800_000_000.0
    samples = [Sample(NS, METRIC, (), 1.0, t0 + i) for i in range(0, 330, 5)]
    report = backtest([alarm(period=30)], samples)
    assert report.evaluations["a"] == 34
    assert backtest([alarm(period=300)], samples).evaluations["a"] == 7  # 0, 60, ..., 360


def test_evaluator_evaluates_once_per_cadence_step_however_often_ticked() -> None:
    # UG: an alarm is evaluated every minute; ticking every second must not evaluate 60 times.
    evaluator = Evaluator([alarm(period=60)])
    for second in range(0, 180):
        evaluator.tick(1_800_000_000.0 + second)
    assert evaluator.evaluation_counts["a"] == 3


def test_wall_clock_window_aligns_periods_to_the_period() -> None:
    # UG "Alarm evaluation window": a WallClockWindow "is aligned to clock boundaries that match the period".
    a = alarm(period=300, threshold=1.0, window="wall_clock")
    s = store({"2026-01-01T00:05:30": [5.0]})
    assert run(a, s, "2026-01-01T00:06:20").reason == "earlier"  # window still [00:00, 00:05): no data, no change
    assert run(a, s, "2026-01-01T00:10:20").state is ALARM


# --- reasons and reason data, byte for byte ------------------------------------------------------------------

def test_lambda_action_example_insufficient_data() -> None:
    # UG "Invoke a Lambda function from an alarm", previousState of the example event (5 periods of 60 s, no data).
    a = alarm(evaluation_periods=5, datapoints_to_alarm=5, threshold=5.0)
    status = run(a, SampleStore(), "2023-08-04T12:31:29.591", before=OK)
    assert status.state is INSUFFICIENT
    assert status.reason == "Insufficient Data: 5 datapoints were unknown."
    assert status.reason_data == (
        '{"version":"1.0","queryDate":"2023-08-04T12:31:29.591+0000","statistic":"Average","period":60,'
        '"recentDatapoints":[],"threshold":5.0,"evaluatedDatapoints":[{"timestamp":"2023-08-04T12:30:00.000+0000"},'
        '{"timestamp":"2023-08-04T12:29:00.000+0000"},{"timestamp":"2023-08-04T12:28:00.000+0000"},'
        '{"timestamp":"2023-08-04T12:27:00.000+0000"},{"timestamp":"2023-08-04T12:26:00.000+0000"}]}')


def test_localstack_put_metric_alarm_one_datapoint_without_datapoints_to_alarm() -> None:
    # LS test_put_metric_alarm: Average of 21 and 22 over 10 s, threshold 21.0, Unit Seconds, no DatapointsToAlarm.
    a = alarm(period=10, threshold=21.0, unit="Seconds", datapoints_to_alarm_set=False,
              treat_missing_data=MissingData.IGNORE)
    status = run(a, store({"2025-09-19T21:11:20": [21.0, 22.0]}), "2025-09-19T21:11:30.250")
    assert status.reason == "Threshold Crossed: 1 datapoint [21.5 (19/09/25 21:11:20)] was greater than the " \
                            "threshold (21.0)."
    data = json.loads(status.reason_data)
    assert list(data) == ["version", "queryDate", "startDate", "unit", "statistic", "period", "recentDatapoints",
                          "threshold", "evaluatedDatapoints"]
    assert data["evaluatedDatapoints"] == [{"timestamp": "2025-09-19T21:11:20.000+0000", "sampleCount": 2.0,
                                            "value": 21.5}]
    assert '"sampleCount":2.0' in status.reason_data


def test_localstack_breaching_alarm_actions_no_data_treated_as_breaching() -> None:
    # LS test_breaching_alarm_actions: 2 periods of 10 s, no data, TreatMissingData breaching.
    a = alarm(period=10, evaluation_periods=2, datapoints_to_alarm=2, threshold=2.0, unit="Seconds",
              treat_missing_data=MissingData.BREACHING, datapoints_to_alarm_set=False)
    status = run(a, SampleStore(), "2025-09-19T21:11:41.100")
    assert status.reason == ("Threshold Crossed: no datapoints were received for 2 periods and 2 missing datapoints "
                             "were treated as [Breaching].")
    data = json.loads(status.reason_data)
    assert "startDate" not in data and data["recentDatapoints"] == []
    assert data["evaluatedDatapoints"] == [{"timestamp": "2025-09-19T21:11:30.000+0000"},
                                           {"timestamp": "2025-09-19T21:11:20.000+0000"}]


SQS_PERIODS = ["2022-09-29T21:40:00", "2022-09-29T21:45:00", "2022-09-29T21:50:00", "2022-09-29T21:55:00",
               "2022-09-29T22:00:00", "2022-09-29T22:05:00"]


def test_capture_six_datapoints_long_form_and_reason_data() -> None:
    # CAP (EventBridge, 2022-09-29): Sum over 300 s, 6 periods, LessThanOrEqualToThreshold 0.0, no DatapointsToAlarm.
    a = alarm(statistic="Sum", period=300, evaluation_periods=6, datapoints_to_alarm=6, threshold=0.0,
              comparison=Comparison.LESS_THAN_OR_EQUAL, datapoints_to_alarm_set=False)
    status = run(a, store({p: [0.0] * 5 for p in SQS_PERIODS}), "2022-09-29T22:10:04.689", before=OK)
    assert status.reason == (
        "Threshold Crossed: 6 datapoints were less than or equal to the threshold (0.0). The most recent datapoints "
        "which crossed the threshold: [0.0 (29/09/22 22:05:00), 0.0 (29/09/22 22:00:00), 0.0 (29/09/22 21:55:00), "
        "0.0 (29/09/22 21:50:00), 0.0 (29/09/22 21:45:00)].")
    entries = ",".join(f'{{"timestamp":"{p}.000+0000","sampleCount":5.0,"value":0.0}}' for p in reversed(SQS_PERIODS))
    assert status.reason_data == (
        '{"version":"1.0","queryDate":"2022-09-29T22:10:04.689+0000","startDate":"2022-09-29T21:40:00.000+0000",'
        '"statistic":"Sum","period":300,"recentDatapoints":[0.0,0.0,0.0,0.0,0.0,0.0],"threshold":0.0,'
        f'"evaluatedDatapoints":[{entries}]}}')


def test_capture_ok_lists_only_the_datapoint_that_crossed_back() -> None:
    # CAP (same alarm, previousState 2022-08-29): one non-breaching period turns it OK.
    a = alarm(statistic="Sum", period=300, evaluation_periods=6, datapoints_to_alarm=6, threshold=0.0,
              comparison=Comparison.LESS_THAN_OR_EQUAL, datapoints_to_alarm_set=False)
    periods = {f"2022-08-29T{h}": [0.0] * 14 for h in ("12:39:00", "12:44:00", "12:49:00", "12:54:00", "12:59:00")}
    periods["2022-08-29T13:04:00"] = [9.0] + [0.0] * 13
    status = run(a, store(periods), "2022-08-29T13:09:04.685", before=ALARM)
    assert status.reason == "Threshold Crossed: 1 datapoint [9.0 (29/08/22 13:04:00)] was not less than or equal " \
                            "to the threshold (0.0)."
    assert status.reason_data == (
        '{"version":"1.0","queryDate":"2022-08-29T13:09:04.685+0000","startDate":"2022-08-29T12:39:00.000+0000",'
        '"statistic":"Sum","period":300,"recentDatapoints":[0.0,0.0,0.0,0.0,0.0,9.0],"threshold":0.0,'
        '"evaluatedDatapoints":[{"timestamp":"2022-08-29T13:04:00.000+0000","sampleCount":14.0,"value":9.0}]}')


@pytest.mark.parametrize(("definition", "periods", "now", "before", "reason"), [
    pytest.param(  # CAP (SNS, EU (London), 2021-12-06): 3 of 3, period 300
        dict(statistic="Maximum", period=300, evaluation_periods=3, datapoints_to_alarm=3, threshold=1.0,
             comparison=Comparison.GREATER_THAN_OR_EQUAL),
        {"2021-12-06T14:10:00": [1.0], "2021-12-06T14:15:00": [1.0], "2021-12-06T14:20:00": [1.0]},
        "2021-12-06T14:25:39.681", OK,
        "Threshold Crossed: 3 out of the last 3 datapoints [1.0 (06/12/21 14:20:00), 1.0 (06/12/21 14:15:00), 1.0 "
        "(06/12/21 14:10:00)] were greater than or equal to the threshold (1.0) (minimum 3 datapoints for OK -> "
        "ALARM transition).", id="cap-3-out-of-3"),
    pytest.param(  # CAP (e-mail, US West (Oregon), 2021-12-21): 3 of 5 M-of-N back to OK, one period missing
        dict(statistic="Maximum", period=60, evaluation_periods=5, datapoints_to_alarm=3, threshold=0.0),
        {"2021-12-21T06:40:00": [1.0], "2021-12-21T06:41:00": [1.0], "2021-12-21T06:42:00": [0.0],
         "2021-12-21T06:44:00": [0.0], "2021-12-21T06:45:00": [0.0]},
        "2021-12-21T06:46:11", ALARM,
        "Threshold Crossed: 3 out of the last 5 datapoints [0.0 (21/12/21 06:45:00), 0.0 (21/12/21 06:44:00), 0.0 "
        "(21/12/21 06:42:00)] were not greater than the threshold (0.0) (minimum 3 datapoints for ALARM -> OK "
        "transition).", id="cap-3-out-of-5-ok"),
    pytest.param(  # CAP (WAF alarm, EU (Ireland), 2024-03-16): 1 of 20 with 19 fills treated as NonBreaching
        dict(statistic="Sum", period=60, evaluation_periods=20, datapoints_to_alarm=1, threshold=1.0,
             comparison=Comparison.GREATER_THAN_OR_EQUAL, treat_missing_data=MissingData.NOT_BREACHING),
        {"2024-03-16T12:15:00": [613.0]}, "2024-03-16T12:16:45.770", OK,
        "Threshold Crossed: 1 out of the last 20 datapoints [613.0 (16/03/24 12:15:00)] was greater than or equal to "
        "the threshold (1.0) and 19 missing datapoints were treated as [NonBreaching] (minimum 1 datapoint for OK -> "
        "ALARM transition).", id="cap-fills-clause"),
    pytest.param(  # CAP (SNS, ECS, 2017-08-08): five datapoints, long form; the newest minute had not arrived
        dict(period=60, evaluation_periods=5, datapoints_to_alarm=5, threshold=10.0, datapoints_to_alarm_set=False),
        {f"2017-08-08T20:0{m}:00": [27.5] for m in range(5, 10)}, "2017-08-08T20:11:21.564", OK,
        "Threshold Crossed: 5 datapoints were greater than the threshold (10.0). The most recent datapoints which "
        "crossed the threshold: [27.5 (08/08/17 20:09:00), 27.5 (08/08/17 20:08:00), 27.5 (08/08/17 20:07:00), 27.5 "
        "(08/08/17 20:06:00), 27.5 (08/08/17 20:05:00)].", id="cap-five-long-form"),
    pytest.param(  # CAP (Slack, 2020-05-21): 5 out of the last 5, long form with the minimum clause
        dict(statistic="Maximum", period=300, evaluation_periods=5, datapoints_to_alarm=5, threshold=400000.0),
        {"2020-05-21T18:11:00": [2126585.0], "2020-05-21T18:16:00": [1893750.0], "2020-05-21T18:21:00": [1054630.0],
         "2020-05-21T18:26:00": [1223375.0], "2020-05-21T18:31:00": [624630.0]}, "2020-05-21T18:36:30", OK,
        "Threshold Crossed: 5 out of the last 5 datapoints were greater than the threshold (400000.0). The most "
        "recent datapoints which crossed the threshold: [624630.0 (21/05/20 18:31:00), 1223375.0 (21/05/20 "
        "18:26:00), 1054630.0 (21/05/20 18:21:00), 1893750.0 (21/05/20 18:16:00), 2126585.0 (21/05/20 18:11:00)] "
        "(minimum 5 datapoints for OK -> ALARM transition).", id="cap-5-out-of-5-long-form"),
])
def test_captured_reason_texts(definition: dict[str, Any], periods: dict[str, list[float]], now: str,
                               before: AlarmState, reason: str) -> None:
    assert run(alarm(**definition), store(periods), now, before=before).reason == reason


@pytest.mark.parametrize(("value", "text"), [
    pytest.param(800.0, "800.0", id="whole"), pytest.param(0.0666851903306472, "0.0666851903306472", id="small"),
    pytest.param(40.760000000000005, "40.760000000000005", id="shortest-repr"),
    pytest.param(1e7, "1.0E7", id="ten-million-scientific"), pytest.param(12345678.9, "1.23456789E7", id="big"),
    pytest.param(0.0001, "1.0E-4", id="tiny-scientific"), pytest.param(0.001, "0.001", id="milli-plain"),
    pytest.param(-2.5, "-2.5", id="negative"),
])
def test_numbers_are_written_as_java_writes_doubles(value: float, text: str) -> None:
    # CAP: reasons carry 66.66201000304783, 400000.0, 0.0666851903306472 (Java's Double.toString).
    assert java_double(value) == text


# --- operators and statistics --------------------------------------------------------------------------------

@pytest.mark.parametrize(("comparison", "words"), [
    (Comparison.GREATER_THAN, "greater than"), (Comparison.GREATER_THAN_OR_EQUAL, "greater than or equal to"),
    (Comparison.LESS_THAN, "less than"), (Comparison.LESS_THAN_OR_EQUAL, "less than or equal to"),
])
def test_each_operator_in_the_reason(comparison: Comparison, words: str) -> None:
    # UG PutMetricAlarm ComparisonOperator; CAP wordings "was greater than or equal to", "were less than".
    value = 5.0 if comparison in (Comparison.GREATER_THAN, Comparison.GREATER_THAN_OR_EQUAL) else -5.0
    status = run(alarm(comparison=comparison), store({"2026-01-01T00:00:00": [value]}), "2026-01-01T00:01:05")
    assert status.state is ALARM and f"was {words} the threshold (0.0)" in status.reason


VALUES = [float(v) for v in range(1, 11)]


@pytest.mark.parametrize(("statistic", "expected"), [
    ("SampleCount", 10.0), ("Sum", 55.0), ("Average", 5.5), ("Minimum", 1.0), ("Maximum", 10.0),
    ("p50", 5.0), ("p0", 1.0), ("p100", 10.0), ("p95.0123456789", 10.0),
    ("TM(2:8)", 5.5), ("TC(2:8)", 6.0), ("TS(2:8)", 33.0), ("WM(2:8)", 5.3), ("TM(:3)", 2.0), ("TC(8:)", 2.0),
])
def test_each_statistic_as_defined(statistic: str, expected: float) -> None:
    # UG "CloudWatch statistics definitions"; value bounds: "includes values equal to the higher boundary, but does
    # not include values equal to the lower boundary"; WM treats values outside as the boundary's value.
    assert aggregate(VALUES, statistic) == expected


def test_p99_9_of_1_to_1000_is_999_exactly() -> None:
    # Nearest rank ceil(0.999 * 1000) = 999 (floating point's 99.9/100*1000 is 999.0000000000001).
    assert percentile([float(v) for v in range(1, 1001)], "99.9") == 999.0
    assert aggregate([float(v) for v in range(1, 1001)], "p99.9") == 999.0


def test_no_extended_statistic_over_a_negative_value() -> None:
    # UG: "these type of statistics are not available for metrics when any of the metric values are negative".
    assert aggregate([-1.0, 5.0], "p50") is None
    assert aggregate([-1.0, 5.0], "TM(0:10)") is None
    assert aggregate([-1.0, 5.0], "Average") == 2.0
    status = run(alarm(statistic="p50"), store({"2026-01-01T00:00:00": [-1.0, 5.0]}), "2026-01-01T00:01:05")
    assert status.state is INSUFFICIENT  # a missing datapoint


@pytest.mark.parametrize("statistic", ["tm90", "TM(10%:90%)", "IQM", "PR(:300)", "wm99", "P95"])
def test_statistics_not_computed_exactly_are_refused(statistic: str) -> None:
    with pytest.raises(UnsupportedStatistic):
        aggregate([1.0], statistic)


@pytest.mark.parametrize(("statistic", "count", "low"), [
    ("p99", 999, True), ("p99", 1000, False), ("p50", 19, True), ("p50", 20, False),
    ("p10", 99, True), ("p10", 100, False), ("p100", 1, False), ("Average", 1, False),
])
def test_low_sample_count_thresholds(statistic: str, count: int, low: bool) -> None:
    # UG "Percentile-based CloudWatch alarms and low data samples": 10/(1-q) for q in [0.5, 1), 10/q below 0.5.
    assert low_sample_count(statistic, count) is low


@pytest.mark.parametrize(("option", "expected"), [("ignore", OK), ("evaluate", ALARM), (None, ALARM)])
def test_evaluate_low_sample_count_percentile_both_values(option: str | None, expected: AlarmState) -> None:
    # UG/API: "ignore": the alarm state does not change with too few samples; "evaluate" (default) evaluates.
    a = alarm(statistic="p99", threshold=1.0, evaluate_low_sample_count=option)
    assert run(a, store({"2026-01-01T00:00:00": [5.0] * 10}), "2026-01-01T00:01:05", before=OK).state is expected


def test_dynamodb_alarms_always_ignore_missing_data() -> None:
    # API TreatMissingData: "Alarms that evaluate metrics in the AWS/DynamoDB namespace always ignore missing data".
    a = alarm(namespace="AWS/DynamoDB", treat_missing_data=MissingData.BREACHING)
    assert run(a, SampleStore(), "2026-01-01T00:01:05", before=OK).state is OK


# --- what CloudWatch sends -----------------------------------------------------------------------------------

def _transition() -> Any:
    a = alarm(name="VoiceM2_P95_Breach", namespace="SilentInfinity/Voice", metric="VoiceM2_TTFA_ms",
              dimensions=dimensions_key({"Variant": "sonic-unified"}), statistic="p95", period=300,
              evaluation_periods=2, datapoints_to_alarm=2, threshold=800.0, description="p95 breach")
    evaluator = Evaluator([a])
    evaluator.ingest(Sample("SilentInfinity/Voice", "VoiceM2_TTFA_ms", a.dimensions, 900.0, at("2026-11-25T16:00:00")
                            + i) for i in range(0, 600, 10))
    [transition] = evaluator.tick(at("2026-11-25T16:10:00.512"))
    return transition


def test_sns_message_field_for_field() -> None:
    # CAP (SNS payloads 2022-2025) and LS test_put_metric_alarm / test_breaching_alarm_actions.
    config = AlarmConfig(("arn:aws:sns:us-east-1:123456789012:oncall",), configured_at=at("2026-11-01T00:00:00"))
    message = sns_message(_transition(), config, region="us-east-1", account="123456789012")
    assert list(message) == ["AlarmName", "AlarmDescription", "AWSAccountId", "AlarmConfigurationUpdatedTimestamp",
                             "NewStateValue", "NewStateReason", "StateChangeTime", "Region", "AlarmArn",
                             "OldStateValue", "OKActions", "AlarmActions", "InsufficientDataActions", "Trigger"]
    assert message["Region"] == "US East (N. Virginia)"
    assert message["StateChangeTime"] == "2026-11-25T16:10:00.512+0000"
    assert message["AlarmConfigurationUpdatedTimestamp"] == "2026-11-01T00:00:00.000+0000"
    assert (message["OKActions"], message["InsufficientDataActions"]) == ([], [])
    trigger = message["Trigger"]
    assert list(trigger) == ["MetricName", "Namespace", "StatisticType", "ExtendedStatistic", "Unit", "Dimensions",
                             "Period", "EvaluationPeriods", "DatapointsToAlarm", "ComparisonOperator", "Threshold",
                             "TreatMissingData", "EvaluateLowSampleCountPercentile"]
    assert trigger["Dimensions"] == [{"value": "sonic-unified", "name": "Variant"}]
    assert (trigger["Unit"], trigger["EvaluateLowSampleCountPercentile"]) == (None, "")
    t = _transition()
    simple = sns_message(Transition(alarm(statistic="SampleCount"), t.previous, t.current, t.at), config,
                         region="eu-south-1", account="1")
    assert (simple["Trigger"]["Statistic"], simple["Region"]) == ("SAMPLE_COUNT", "EU (Milan)")


def test_sns_subject_truncates_long_names() -> None:
    # CAP: 'ALARM: "SharedInfra-Alpha-Database-DatabaseInstanceObservabilityHighDatabaseConnec..." in EU (Milan)'.
    name = "SharedInfra-Alpha-Database-DatabaseInstanceObservabilityHighDatabaseConnectionsAlarm5CD1334F-FetIEoRn5hgP"
    assert sns_subject("ALARM", name, "eu-south-1") == \
        'ALARM: "SharedInfra-Alpha-Database-DatabaseInstanceObservabilityHighDatabaseConnec..." in EU (Milan)'


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items() if k != "dimensions"}
    if isinstance(value, list):
        return [_shape(v) for v in value[:1]]
    return type(value).__name__


def test_lambda_event_has_the_documented_shape() -> None:
    # UG "Invoke a Lambda function from an alarm" (tests/fixtures/alarm_events/lambda_action.json follows it).
    event = lambda_event(_transition(), region="us-east-1", account="123456789012")
    documented = load_event("lambda_action.json")
    documented["alarmData"]["previousState"]["reasonData"] = "{}"
    assert _shape(event) == _shape(documented) | {"alarmData": _shape(event["alarmData"])}
    assert set(event["alarmData"]) == set(documented["alarmData"])
    assert event["alarmData"]["configuration"]["metrics"][0]["metricStat"]["stat"] == "p95"


def test_eventbridge_event_has_the_documented_shape() -> None:
    # UG "Alarm events and EventBridge", single-metric sample, verbatim in aws_docs_eventbridge_single_metric.json.
    event = eventbridge_event(_transition(), region="us-east-1", account="123456789012")
    sample = load_event("aws_docs_eventbridge_single_metric.json")
    assert list(event) == list(sample)
    assert set(event["detail"]) == set(sample["detail"])
    assert set(event["detail"]["state"]) == set(sample["detail"]["state"])
    assert event["time"] == "2026-11-25T16:10:00Z" and event["detail-type"] == "CloudWatch Alarm State Change"


# --- time to detect ------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("period", "m", "delay"), [(300, 2, 0), (60, 1, 0), (10, 2, 0), (60, 3, 30), (300, 1, 90)])
def test_time_to_detect_bounds_are_the_evaluators(period: int, m: int, delay: int) -> None:
    # Brute force over every start second of the regression: Maximum fires at the earliest (one bad sample makes a
    # period breach), Minimum at the latest (a period breaches only when wholly bad); samples visible `delay` late.
    def fired_after(statistic: str, t0: float) -> float:
        a = alarm(statistic=statistic, period=period, evaluation_periods=m, datapoints_to_alarm=m, threshold=1.0,
                  treat_missing_data=MissingData.NOT_BREACHING)
        evaluator = Evaluator([a])
        base = now = 1_800_000_000.0 - 3 * period
        sent = 0
        while True:
            while base + sent <= now - delay:
                evaluator.ingest([Sample(NS, METRIC, (), 5.0 if base + sent >= t0 else 0.0, base + sent)])
                sent += 1
            if any(t.state is ALARM for t in evaluator.tick(now)):
                return now - t0
            now += a.cadence

    detection = time_to_detect(alarm(period=period, evaluation_periods=m, datapoints_to_alarm=m), float(delay))
    step = 60 if period >= 60 else 10
    offsets = [1_800_000_000.0 + s + 0.5 for s in range(0, step, max(1, step // 12))]
    earliest = min(fired_after("Maximum", t0) for t0 in offsets)
    latest = max(fired_after("Minimum", t0) for t0 in offsets)
    assert detection.earliest <= earliest <= detection.earliest + step
    assert detection.latest - step <= latest <= detection.latest
