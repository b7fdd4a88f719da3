"""No lost update between the revert handler, people and `voicectl advance` (DESIGN.md: each writer owns its own
parameter). Against moto's HTTP server: one deterministic interleaving through the real CLI, and threads.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from cli.app import app
from control_plane.aws import live_store
from control_plane.compiler import compile_plan
from registry.live_state import OverrideRecord, PhaseRecord, effective_weights, param_override, param_phase
from registry.loader import load_registry

NS = "/silentinfinity/voice"
T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def ssm(aws_endpoint: str, example_path: Path) -> Any:
    client = boto3.client("ssm", endpoint_url=aws_endpoint, region_name="us-east-1")
    for p in compile_plan(load_registry(example_path)).parameters:
        client.put_parameter(Name=p.name, Value=p.value, Type="String", Tier=p.tier, Overwrite=True)
    return client


def _revert(ssm: Any, variant: str, alarm: str, at: datetime = T0) -> int:
    return live_store.put_override(ssm, NS, OverrideRecord(variant=variant, share=0, source="alarm", alarm=alarm,
                                                           reason="threshold crossed", at=at))


def test_a_revert_landing_between_the_guard_and_the_phase_write_survives_the_advance(
    ssm: Any, aws_endpoint: str, example_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the rollout at Phase3_Week4 (sonic-unified 5%)
    live_store.put_record(ssm, param_phase(NS), PhaseRecord(phase="Phase3_Week4", at=T0))
    real_put_record = live_store.put_record

    def put_record_after_a_revert(client: Any, name: str, record: Any, **kw: Any) -> int:
        # WHEN the alarm's revert handler writes while advance is between reading state and writing the phase
        if name == param_phase(NS):
            _revert(client, "sonic-unified", "VoiceM2_P95_Breach")
        return real_put_record(client, name, record, **kw)

    monkeypatch.setattr(live_store, "put_record", put_record_after_a_revert)
    env = {"AWS_ENDPOINT_URL": aws_endpoint, "VOICECTL_NOW": (T0 + timedelta(days=3)).isoformat()}
    result = CliRunner().invoke(app, ["advance", str(example_path), "--force", "--reason", "ramp"], env=env)
    assert result.exit_code == 0, result.output
    # THEN both updates are live: the new phase AND the revert, so runtimes serve sonic-unified 0%
    state = live_store.read_live_state(ssm, NS)
    assert state.phase is not None and state.phase.phase == "Phase3_Week5"
    assert state.overrides["sonic-unified"].alarm == "VoiceM2_P95_Breach"
    assert effective_weights(state)["sonic-unified"] == 0.0
    # AND the person who advanced is told, with what runtimes will really serve
    assert "meanwhile: sonic-unified=0% by alarm VoiceM2_P95_Breach" in result.stderr


def test_concurrent_reverts_and_phase_writes_all_land(ssm: Any) -> None:
    # GIVEN three writers at once: two alarms reverting two variants, a person moving phases
    rounds = 8
    errors: list[BaseException] = []

    def run(fn: Any) -> None:
        try:
            for i in range(rounds):
                fn(i)
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)

    writers = [
        lambda i: _revert(ssm, "sonic-unified", "VoiceM2_P95_Breach", T0 + timedelta(seconds=i)),
        lambda i: _revert(ssm, "sesame-csm1b", "VoiceM2_Error_Rate_Breach", T0 + timedelta(seconds=i)),
        lambda i: live_store.put_record(ssm, param_phase(NS), PhaseRecord(
            phase="Phase3_Week5" if i % 2 else "Phase3_Week4", at=T0 + timedelta(seconds=i))),
    ]
    threads = [threading.Thread(target=run, args=(w,)) for w in writers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    # THEN every write is a version of its own parameter, and the final state holds each writer's last word
    for name in (param_override(NS, "sonic-unified"), param_override(NS, "sesame-csm1b"), param_phase(NS)):
        assert [v for v, _, _ in live_store.parameter_history(ssm, name)] == list(range(1, rounds + 1))
    state = live_store.read_live_state(ssm, NS)
    assert set(state.overrides) == {"sonic-unified", "sesame-csm1b"}
    assert state.phase is not None and state.phase.phase == "Phase3_Week5"  # round 7 is odd
    assert effective_weights(state)["sonic-unified"] == 0.0


def test_two_alarms_reverting_the_same_variant_both_stay_in_the_audit_log(ssm: Any) -> None:
    barrier = threading.Barrier(2)

    def fire(alarm: str) -> None:
        barrier.wait(timeout=30)
        _revert(ssm, "sonic-unified", alarm)

    threads = [threading.Thread(target=fire, args=(a,)) for a in ("VoiceM2_P95_Breach", "VoiceM2_Error_Rate_Breach")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    history = live_store.parameter_history(ssm, param_override(NS, "sonic-unified"))
    assert len(history) == 2
    alarms = {OverrideRecord.model_validate_json(value).alarm for _, _, value in history}
    assert alarms == {"VoiceM2_P95_Breach", "VoiceM2_Error_Rate_Breach"}
    # the same intent either way: the variant is at 0
    assert effective_weights(live_store.read_live_state(ssm, NS))["sonic-unified"] == 0.0


def test_two_people_moving_the_phase_at_once_are_told(
    ssm: Any, aws_endpoint: str, example_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    live_store.put_record(ssm, param_phase(NS), PhaseRecord(phase="Phase3_Week5", at=T0))
    real_put_record = live_store.put_record

    def someone_rolls_back_first(client: Any, name: str, record: Any, **kw: Any) -> int:
        if name == param_phase(NS) and record.phase == "Phase4_Week6":
            real_put_record(client, name, PhaseRecord(phase="Phase3_Week4", action="rollback", actor="carol",
                                                      previous="Phase3_Week5", at=T0), **kw)
        return real_put_record(client, name, record, **kw)

    monkeypatch.setattr(live_store, "put_record", someone_rolls_back_first)
    env = {"AWS_ENDPOINT_URL": aws_endpoint, "VOICECTL_NOW": (T0 + timedelta(days=3)).isoformat()}
    result = CliRunner().invoke(app, ["advance", str(example_path), "--force", "--reason", "ramp"], env=env)
    assert result.exit_code == 0, result.output
    assert "another phase change landed while this one was decided (version 2" in result.stderr
    assert "carol" in result.stderr
    # both moves are in the audit log
    assert len(live_store.parameter_history(ssm, param_phase(NS))) == 3


def test_the_real_revert_handler_firing_during_an_advance_is_not_lost(
    ssm: Any, aws_endpoint: str, example_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json as jsonlib

    from control_plane.alarms.handler import HandlerConfig, handle

    root = Path(__file__).resolve().parents[1]
    event = jsonlib.loads((root / "fixtures" / "alarm_events" / "eventbridge_state_change.json").read_text())
    clients = {name: boto3.client(name, endpoint_url=aws_endpoint, region_name="us-east-1")
               for name in ("sns", "codedeploy")}
    live_store.put_record(ssm, param_phase(NS), PhaseRecord(phase="Phase3_Week4", at=T0))
    real_put_record = live_store.put_record
    outcomes: list[dict[str, Any]] = []

    def alarm_fires_first(client: Any, name: str, record: Any, **kw: Any) -> int:
        if name == param_phase(NS) and record.phase == "Phase3_Week5":
            outcomes.append(handle(event, ssm=ssm, sns=clients["sns"], codedeploy=clients["codedeploy"],
                                   config=HandlerConfig(NS, account="123456789012", region="us-east-1"),
                                   clock=lambda: T0 + timedelta(days=3)))
        return real_put_record(client, name, record, **kw)

    monkeypatch.setattr(live_store, "put_record", alarm_fires_first)
    env = {"AWS_ENDPOINT_URL": aws_endpoint, "VOICECTL_NOW": (T0 + timedelta(days=3)).isoformat()}
    result = CliRunner().invoke(app, ["advance", str(example_path), "--force", "--reason", "ramp"], env=env)
    assert result.exit_code == 0, result.output
    assert outcomes and outcomes[0]["results"][0]["overrides_written"][0]["variant"] == "sonic-unified"
    state = live_store.read_live_state(ssm, NS)
    assert state.phase is not None and state.phase.phase == "Phase3_Week5"
    assert state.overrides["sonic-unified"].alarm == "VoiceM2_P95_Breach"
    assert effective_weights(state)["sonic-unified"] == 0.0
