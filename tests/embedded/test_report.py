"""The demo report is a pure function of what the scenario recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from embedded.conversation import TurnResult
from embedded.report import (
    Check,
    DemoRecord,
    Event,
    alarm_to_baseline_s,
    phase_rows,
    rolling_share,
    share_timeline,
    summary,
    ttfa_stats,
    write_json,
)

BASE, SONIC = "transcribe-polly-baseline", "sonic-unified"


def turn(at: float, variant: str | None, ttfa: float | None = 100.0, *, internal: bool = False,
         reason: str = "end_turn", error: str | None = None) -> TurnResult:
    return TurnResult(session="s", subject="u", turn=1, at_s=at, variant=variant, client_ttfa_ms=ttfa,
                      reason=reason, error=error, internal=internal)


def record(turns: list[TurnResult], events: list[Event]) -> DemoRecord:
    return DemoRecord(baseline=BASE, watched=SONIC, turns=turns, events=events)


def test_share_timeline_counts_external_turns_per_bin() -> None:
    turns = [turn(0.1, BASE), turn(0.5, SONIC), turn(1.0, BASE), turn(1.5, BASE), turn(0.2, SONIC, internal=True)]
    assert share_timeline(turns, bin_s=1.0) == [(0.0, {BASE: 50.0, SONIC: 50.0}), (1.0, {BASE: 100.0})]


def test_ttfa_stats_skip_errors_interruptions_and_other_windows() -> None:
    turns = [turn(1, SONIC, 100), turn(2, SONIC, 200), turn(3, SONIC, 5000, reason="interrupted"),
             turn(4, SONIC, None, reason="error", error="backend_error"), turn(20, SONIC, 900)]
    stats = ttfa_stats(turns, end_s=10)
    assert stats[SONIC]["count"] == 2
    assert stats[SONIC]["p50_ms"] == pytest.approx(100, rel=0.01)
    assert stats[SONIC]["max_ms"] == pytest.approx(200, rel=0.01)


@pytest.mark.parametrize(("turns", "expected"), [
    pytest.param([turn(11, SONIC), turn(12, BASE), turn(14, SONIC), turn(15, BASE), turn(16, BASE)], 5.0,
                 id="last-canary-turn-at-14-first-baseline-after-at-15"),
    pytest.param([turn(11, BASE), turn(12, BASE)], 0.0, id="no-canary-turn-after-the-alarm"),
    pytest.param([turn(11, BASE), turn(12, SONIC, internal=True)], 0.0, id="internal-turns-do-not-count"),
])
def test_alarm_to_baseline(turns: list[TurnResult], expected: float) -> None:
    rec = record(turns, [Event(10.0, "alarm", "ALARM VoiceM2_P95_Breach")])
    assert alarm_to_baseline_s(rec) == expected


def test_alarm_to_baseline_is_none_without_an_alarm() -> None:
    assert alarm_to_baseline_s(record([turn(1, SONIC)], [])) is None


def test_summary_and_json(tmp_path: Path) -> None:
    rec = record([turn(1, SONIC, 150), turn(2, BASE, 700), turn(12, SONIC, 1500), turn(16, BASE, 720)],
                 [Event(0, "phase", "Phase3_Week4", {"phase": "Phase3_Week4", "weights": {BASE: 95, SONIC: 5}}),
                  Event(5, "inject", "Nova Sonic latency x8"), Event(10, "alarm", "ALARM VoiceM2_P95_Breach"),
                  Event(10.5, "override", "sonic-unified -> 0%")])
    rec.checks.append(Check("reverted", True, "ok"))
    doc = summary(rec)
    assert doc["ok"] is True
    assert doc["alarm_to_override_s"] == 0.5
    assert doc["alarm_to_all_baseline_s"] == 6.0
    assert set(doc["ttfa_before_regression"]) == {BASE, SONIC}
    assert doc["ttfa_after_regression"][SONIC]["count"] == 1
    path = write_json(tmp_path / "out" / "report.json", rec)
    assert json.loads(path.read_text())["turn_results"][2]["variant"] == SONIC


def test_summary_is_not_ok_when_a_check_failed_or_none_ran() -> None:
    assert summary(record([], []))["ok"] is False
    rec = record([], [])
    rec.checks += [Check("a", True, ""), Check("b", False, "")]
    assert summary(rec)["ok"] is False


def test_rolling_share_uses_a_centred_window() -> None:
    turns = [turn(0.5, BASE), turn(1.5, SONIC), turn(2.5, BASE), turn(3.5, BASE)]
    shares = dict(rolling_share(turns, window_s=2.0, step_s=1.0))
    assert shares[1.5] == {BASE: 50.0, SONIC: 50.0}  # turns at 0.5 and 1.5
    assert shares[3.5] == {BASE: 100.0}  # turns at 2.5 and 3.5


def test_phase_rows_show_external_and_internal_weights() -> None:
    rec = record([], [Event(1.0, "phase", "Phase2_Week2", {"phase": "Phase2_Week2", "weights": {BASE: 100, SONIC: 0},
                                                         "internal_weights": {SONIC: 100}})])
    assert phase_rows(rec) == [("   1.0s", "Phase2_Week2", f"{BASE} 100%; internal: {SONIC} 100%")]
