"""What an alarm's OK rests on, judged from the StateReasonData the local evaluator writes as CloudWatch does
(issue 17: a reverted variant has no traffic, so a notBreaching alarm goes OK on missing data alone)."""

from __future__ import annotations

from datetime import UTC, datetime

from control_plane.alarms.basis import AlarmSnapshot, Basis, judge
from control_plane.alarms.evaluator import Evaluator, Transition
from control_plane.alarms.states import AlarmState
from tests.control_plane.alarms.conftest import T0, p95_alarm, ttfa


def run(samples_after_revert: list[float]) -> tuple[Transition, Transition]:
    """Breach for two periods (ALARM: the revert), then `samples_after_revert` (one a period), until OK."""
    evaluator = Evaluator([p95_alarm()])
    evaluator.ingest([ttfa(1200.0, T0 + i * 300 + 10) for i in range(2)])
    [alarm] = [t for t in evaluator.tick(T0 + 600) if t.state is AlarmState.ALARM]
    evaluator.ingest([ttfa(v, T0 + 600 + i * 300 + 10) for i, v in enumerate(samples_after_revert)])
    ok = next(t for now in range(T0 + 660, T0 + 7200, 60) for t in evaluator.tick(now) if t.state is AlarmState.OK)
    return alarm, ok


def snapshot(t: Transition) -> AlarmSnapshot:
    return AlarmSnapshot("VoiceM2_P95_Breach", t.state.value, t.current.reason, t.current.reason_data)


def test_ok_on_missing_data_only_after_the_revert() -> None:
    alarm, ok = run([])
    assert "missing datapoint was treated as [NonBreaching]" in ok.current.reason  # within a minute of the revert
    verdict = judge("VoiceM2_P95_Breach", snapshot(ok), datetime.fromtimestamp(alarm.at, UTC))
    assert verdict.basis is Basis.MISSING_ONLY and verdict.datapoints == 0
    assert "no datapoint since the revert" in verdict.detail


def test_ok_on_real_datapoints_after_the_revert() -> None:
    alarm, ok = run([300.0, 320.0])
    verdict = judge("VoiceM2_P95_Breach", snapshot(ok), datetime.fromtimestamp(alarm.at, UTC))
    assert verdict.basis is Basis.DATA and verdict.datapoints >= 1


def test_firing_unknown_and_missing_alarms() -> None:
    at = datetime.fromtimestamp(T0, UTC)
    assert judge("a", AlarmSnapshot("a", "ALARM", "breach"), at).basis is Basis.FIRING
    assert judge("a", AlarmSnapshot("a", "OK", "set by hand", ""), at).basis is Basis.UNKNOWN
    assert judge("a", None, at).basis is Basis.UNKNOWN
