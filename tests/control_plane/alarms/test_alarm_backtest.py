"""Backtest: history formats, located errors, and the shipped regression history."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from control_plane.alarms.backtest import HistoryInvalid, backtest, parse_csv, parse_jsonl, read_history
from control_plane.alarms.evaluator import definitions_from_registry
from control_plane.alarms.states import AlarmState
from registry.loader import load_registry
from tests.conftest import ROOT

HISTORY = ROOT / "examples" / "metrics-regression.jsonl"
NS = "SilentInfinity/Voice"


def test_csv_columns_other_than_the_known_ones_are_dimensions() -> None:
    text = "timestamp,metric,Variant,value\n2026-11-20T14:00:00Z,VoiceM2_TTFA_ms,sonic-unified,412\n" \
           "1795000000,VoiceM2_SessionError,,0\n"
    first, second = parse_csv(text, default_namespace=NS)
    assert first.key == (NS, "VoiceM2_TTFA_ms", (("Variant", "sonic-unified"),)) and first.value == 412.0
    assert second.dimensions == () and second.timestamp == 1795000000.0


def test_jsonl_plain_and_emf_lines() -> None:
    emf = {"_aws": {"Timestamp": 1795000000123, "CloudWatchMetrics": [
        {"Namespace": NS, "Dimensions": [["Variant"]], "Metrics": [{"Name": "VoiceM2_TTFA_ms", "Unit": "Milliseconds"}]}
    ]}, "Variant": "sonic-unified", "VoiceM2_TTFA_ms": [300.0, 900.0], "service": "voice-runtime"}
    plain = {"timestamp": "2026-11-20T14:00:05Z", "metric": "VoiceM2_TTFA_ms",
             "dimensions": {"Variant": "sonic-unified"}, "value": 250}
    samples = parse_jsonl(json.dumps(emf) + "\n\n" + json.dumps(plain) + "\n", default_namespace=NS)
    assert [s.value for s in samples] == [300.0, 900.0, 250.0]
    assert samples[0].timestamp == pytest.approx(1795000000.123)
    assert samples[0].dimensions == (("Variant", "sonic-unified"),)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        pytest.param("h.jsonl", '{"metric": "m", "value": 1}\n', ":1: missing field(s) timestamp", id="no-ts"),
        pytest.param("h.jsonl", '{"timestamp": 1, "metric": "m", "value": 1}\n[1]\n', ":2: each line",
                     id="not-object"),
        pytest.param("h.jsonl", '{"timestamp": "yesterday", "metric": "m", "value": 1}\n', ":1: Invalid",
                     id="bad-time"),
        pytest.param("h.jsonl", '{"timestamp": 1, "metric": "m", "value": "NaN"}\n', ":1: 'NaN' is not a",
                     id="nan"),
        pytest.param("h.csv", "timestamp,value\n1,2\n", ":1: the header lacks column(s) metric", id="no-metric"),
        pytest.param("h.csv", "timestamp,metric,value\n1,m,abc\n", ":2: could not convert", id="bad-value"),
        pytest.param("h.txt", "x", ": unknown history format '.txt'", id="format"),
    ],
)
def test_bad_history_names_file_and_line(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(HistoryInvalid) as info:
        read_history(path, default_namespace=NS)
    assert info.value.what.startswith(f"{path}{message}")
    assert info.value.where is not None and info.value.where.startswith(str(path))


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(HistoryInvalid, match="cannot read"):
        read_history(tmp_path / "nope.jsonl", default_namespace=NS)


def test_shipped_regression_history_fires_p95_then_recovers(example_path: Path) -> None:
    registry = load_registry(example_path)
    report = backtest(definitions_from_registry(registry),
                      read_history(HISTORY, default_namespace=registry.metrics_namespace))
    fired = {e.alarm: e for e in reversed(report.fired())}  # each alarm's first ALARM
    assert set(fired) == {"VoiceM2_P95_Breach", "VoiceM2_TTFA_Regression", "VoiceM2_Error_Rate_Breach"}
    p95 = fired["VoiceM2_P95_Breach"]
    # Regression from 14:40; CloudWatch evaluates every minute over the 2 x 300 s ending at that minute, so the
    # 14:48 evaluation reads [14:38, 14:43) and [14:43, 14:48), both over 800 ms (not two epoch-aligned periods).
    assert p95.as_dict()["at"] == "2026-11-20T14:48:00+00:00"
    assert p95.reason.startswith("Threshold Crossed: 2 out of the last 2 datapoints [826.7 (20/11/26 14:43:00), "
                                 "832.4 (20/11/26 14:38:00)] were greater than the threshold (800.0)")
    assert report.evaluations["VoiceM2_P95_Breach"] == report.ticks  # one evaluation a minute
    assert (p95.would_revert, p95.would_rollback, p95.would_notify) == (("sonic-unified",), True,
                                                                         ("voice-m2-oncall",))
    assert fired["VoiceM2_TTFA_Regression"].would_revert == ()  # notification only (memo alarm 4)
    recovered = [e for e in report.events if e.recovered and e.alarm == "VoiceM2_P95_Breach"]
    assert recovered and recovered[0].state is AlarmState.OK
    assert report.final["VoiceM2_Bedrock_Error_Spike"] is AlarmState.OK


def test_backtest_is_deterministic(example_path: Path) -> None:
    registry = load_registry(example_path)
    samples = read_history(HISTORY, default_namespace=registry.metrics_namespace)
    alarms = definitions_from_registry(registry)
    assert backtest(alarms, samples).as_dict() == backtest(alarms, list(reversed(samples))).as_dict()


def test_empty_history_reports_nothing(example_path: Path) -> None:
    report = backtest(definitions_from_registry(load_registry(example_path)), [])
    assert report.events == [] and report.samples == 0
