"""The advance guard: every failing condition, each with a named reason and when it could pass (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from control_plane.rollout.gates import GateResult, Verdict
from control_plane.rollout.guard import Facts, ReasonCode, decide
from control_plane.rollout.machine import Step
from registry.live_state import OverrideRecord

T0 = datetime(2026, 5, 1, tzinfo=UTC)
STEP = Step("Phase3_Week4", "Phase3_Week5", None)
PASSING = GateResult("metric", "VoiceM2_TTFA_ms p50", "< 300", 210.0, Verdict.PASS, "ok")


def facts(**kw: object) -> Facts:
    base: dict[str, object] = {"step": STEP, "now": T0 + timedelta(hours=49), "entered_at": T0,
                               "bake_seconds": 48 * 3600, "gates": [PASSING], "alarms": {"P95": "OK"}}
    return Facts(**{**base, **kw})  # type: ignore[arg-type]


def test_allows_when_everything_holds() -> None:
    decision = decide(facts())
    assert decision.allowed and decision.reasons == ()
    assert decision.bake_ends_at == T0 + timedelta(hours=48)


def test_bake_remaining_says_when_it_could_pass() -> None:
    decision = decide(facts(now=T0 + timedelta(hours=40)))
    assert not decision.allowed
    [reason] = decision.reasons
    assert reason.code is ReasonCode.BAKE
    assert "8h remain" in reason.message
    assert reason.could_pass_at == T0 + timedelta(hours=48)
    assert decision.earliest == T0 + timedelta(hours=48)


def test_every_failed_condition_is_listed() -> None:
    failing = GateResult("metric", "err", "< 0.02", 0.05, Verdict.FAIL, "err is 0.05, must be < 0.02")
    missing = GateResult("metric", "p95", "< 800", None, Verdict.INCONCLUSIVE, "p95: no data")
    override = OverrideRecord(variant="sonic-unified", share=0, source="alarm", alarm="P95", at=T0)
    decision = decide(facts(
        now=T0 + timedelta(hours=1), gates=[PASSING, failing, missing], alarms={"P95": "ALARM", "Err": None},
        overrides={"sonic-unified": override}, runbook={"sonic-unified": 0},
        step=Step("Phase3_Week4", "Phase4_Week7", None, skipped=("Phase3_Week5", "Phase4_Week6")),
        applied_digest="aaa", file_digest="bbb", problems=["/x/overrides/y: bad json"]))
    codes = [r.code for r in decision.reasons]
    assert codes == [ReasonCode.BAKE, ReasonCode.GATE_FAILED, ReasonCode.GATE_INCONCLUSIVE, ReasonCode.ALARM_MISSING,
                     ReasonCode.ALARM, ReasonCode.OVERRIDE, ReasonCode.RUNBOOK_MAP, ReasonCode.SKIPS_PHASES,
                     ReasonCode.DRIFT, ReasonCode.LIVE_STATE]
    assert decision.earliest is None  # a person must act, time alone will not do
    override_reason = decision.reasons[5]
    assert "alarm P95" in override_reason.message and "override clear sonic-unified" in override_reason.hint


def test_insufficient_data_alarm_does_not_block_but_missing_data_gate_does() -> None:
    assert decide(facts(alarms={"P95": "INSUFFICIENT_DATA"})).allowed
    missing = GateResult("metric", "p95", "< 800", None, Verdict.INCONCLUSIVE, "no data")
    assert not decide(facts(gates=[missing])).allowed


def test_same_digest_is_not_drift() -> None:
    assert decide(facts(applied_digest="abc", file_digest="abc")).allowed


def test_taking_a_path_is_not_blocked_by_the_main_paths_exit_gates_but_waits_for_the_bake() -> None:
    failing = GateResult("metric", "sonic p50", "< 200", 260.0, Verdict.FAIL, "sonic p50 is 260, must be < 200")
    branch = Step("Phase2_Week2", "PathB_CSM_Internal", "csm-fallback", branch=True)
    decision = decide(facts(step=branch, gates=[failing]))
    assert decision.allowed and decision.gates == (failing,)
    early = decide(facts(step=branch, gates=[failing], now=T0 + timedelta(hours=1)))
    assert [r.code for r in early.reasons] == [ReasonCode.BAKE]
    assert not decide(facts(gates=[failing])).allowed  # the main path stays blocked


def test_a_cleared_revert_restarts_the_bake() -> None:
    restarted = T0 + timedelta(hours=30)
    decision = decide(facts(bake_restarted_at=restarted, bake_restart_cause="override clear of sonic by bob"))
    [reason] = decision.reasons
    assert reason.code is ReasonCode.BAKE
    assert "restarted 2026-05-02T06:00:00+00:00 by override clear of sonic by bob" in reason.message
    assert decision.bake_ends_at == restarted + timedelta(hours=48)
    # a clear before entering the phase changes nothing
    assert decide(facts(bake_restarted_at=T0 - timedelta(hours=1))).allowed
