"""A person cannot silently lose a revert (issue 17), end to end: voicectl against moto's server, with the real
revert handler firing at the worst moments (injected between the steps of the command)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest

from control_plane.alarms.evaluator import AlarmStatus, Evaluator, Transition
from control_plane.alarms.handler import HandlerConfig, handle
from control_plane.alarms.messages import lambda_event
from control_plane.alarms.states import AlarmState
from control_plane.aws import live_store
from registry.errors import AwsError, AwsProblem
from registry.live_state import OverrideRecord
from tests.cli.test_rollout_cli import NS, T0, Cli, _apply
from tests.control_plane.alarms.conftest import p95_alarm, ttfa

ACCOUNT, REGION = "123456789012", "us-east-1"
P95, ERRORS = "VoiceM2_P95_Breach", "VoiceM2_Error_Rate_Breach"


class NoDeployments:
    def list_deployments(self, **_: Any) -> dict[str, list[str]]:
        return {"deployments": []}


@pytest.fixture
def world(aws_endpoint: str, example_path: Path) -> tuple[Cli, dict[str, Any]]:
    cli = Cli(aws_endpoint, example_path)
    aws = _apply(aws_endpoint, example_path)
    aws["sns"] = boto3.client("sns", endpoint_url=aws_endpoint, region_name=REGION)
    for _ in range(2):  # init + Phase2_Week2, then Phase3_Week4: sonic-unified 5%
        cli("advance", str(example_path), "--force", "--reason", "r")
    return cli, aws


def fire(aws: dict[str, Any], alarm: str = P95, at: datetime = T0) -> dict[str, Any]:
    """The revert handler, as CloudWatch's Lambda alarm action invokes it, for `alarm` going ALARM at `at`."""
    t = Transition(p95_alarm(name=alarm), AlarmStatus(AlarmState.OK, "ok", "{}", at.timestamp() - 600),
                   AlarmStatus(AlarmState.ALARM, "Threshold Crossed", "{}", at.timestamp()), at.timestamp())
    aws["cw"].set_alarm_state(AlarmName=alarm, StateValue="ALARM", StateReason="Threshold Crossed")
    return handle(lambda_event(t, region=REGION, account=ACCOUNT), ssm=aws["ssm"], sns=aws["sns"],
                  codedeploy=NoDeployments(), config=HandlerConfig(NS, account=ACCOUNT, region=REGION),
                  clock=lambda: at)


def override(aws: dict[str, Any]) -> OverrideRecord | None:
    return live_store.read_live_state(aws["ssm"], NS).overrides.get("sonic-unified")


def go_ok(aws: dict[str, Any], alarm: str, reason_data: str = "{}") -> None:
    aws["cw"].set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="Threshold Crossed",
                              StateReasonData=reason_data)


def test_clear_refuses_when_a_revert_lands_between_its_read_and_its_re_read(
        world: tuple[Cli, dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    cli, aws = world
    assert cli("override", "set", "sonic-unified=0", "--reason", "choppy", "-n", NS)[0] == 0
    real = live_store.require_version

    def revert_first(ssm: Any, name: str, based_on: int | None) -> Any:
        if name.endswith("/overrides/sonic-unified") and override(aws) and not override(aws).reverting_alarms:
            fire(aws)
        return real(ssm, name, based_on)

    monkeypatch.setattr(live_store, "require_version", revert_first)
    code, _, err = cli("override", "clear", "sonic-unified", "--reason", "fixed", "-n", NS)
    assert code == 3 and "changed while this was decided" in err
    assert (record := override(aws)) is not None and record.reverting_alarms == [P95]


def test_clear_puts_back_a_revert_that_lands_between_its_re_read_and_its_delete(
        world: tuple[Cli, dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    # Before: the clear deleted the revert written between its read and its delete.
    cli, aws = world
    assert cli("override", "set", "sonic-unified=0", "--reason", "choppy", "-n", NS)[0] == 0
    real = live_store.delete_parameter

    def revert_then_delete(ssm: Any, name: str) -> bool:
        if name.endswith("/overrides/sonic-unified"):
            fire(aws)
        return real(ssm, name)

    monkeypatch.setattr(live_store, "delete_parameter", revert_then_delete)
    code, _, err = cli("override", "clear", "sonic-unified", "--reason", "fixed", "-n", NS)
    assert code == 3 and f"alarm {P95} reverted sonic-unified while it was being cleared" in err
    record = override(aws)
    assert record is not None and record.share == 0 and record.reverting_alarms == [P95]


def test_a_persons_override_cannot_replace_a_revert_without_force_and_reason(
        world: tuple[Cli, dict[str, Any]]) -> None:
    # Before: `override set sonic-unified=50` over a firing alarm's revert exited 0, and `clear` then passed.
    cli, aws = world
    fire(aws)
    code, _, err = cli("override", "set", "sonic-unified=50", "--reason", "push", "-n", NS)
    assert code == 3 and f"sonic-unified is reverted by alarm {P95}" in err
    assert cli("override", "set", "sonic-unified=50", "--force", "-n", NS)[0] == 2
    assert (record := override(aws)) is not None and record.share == 0
    code, _, err = cli("override", "set", "sonic-unified=50", "--force", "--reason", "false positive", "-n", NS)
    assert code == 0 and f"replaced the revert of alarm {P95}" in err
    assert (record := override(aws)) is not None and (record.share, record.source) == (50, "person")


def test_a_revert_landing_while_a_person_writes_is_put_back(world: tuple[Cli, dict[str, Any]],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    cli, aws = world
    real = live_store.put_value

    def revert_in_between(ssm: Any, name: str, value: str, **kw: Any) -> int:
        if name.endswith("/overrides/sonic-unified") and '"source":"person"' in value:
            monkeypatch.setattr(live_store, "put_value", real)
            fire(aws)
        return real(ssm, name, value, **kw)

    monkeypatch.setattr(live_store, "put_value", revert_in_between)
    code, _, err = cli("override", "set", "sonic-unified=50", "--reason", "push", "-n", NS)
    assert code == 3 and "the revert is restored and sonic-unified stays at 0%" in " ".join(err.split())
    record = override(aws)
    assert record is not None and (record.share, record.reverting_alarms) == (0, [P95])


def test_clear_checks_every_alarm_that_reverted_the_variant(world: tuple[Cli, dict[str, Any]]) -> None:
    # Before: only the first alarm was recorded, and clear checked only it.
    cli, aws = world
    fire(aws, P95)
    fire(aws, ERRORS, T0 + timedelta(minutes=1))
    assert (record := override(aws)) is not None and record.reverting_alarms == [ERRORS, P95]
    go_ok(aws, P95)
    code, _, err = cli("override", "clear", "sonic-unified", "--reason", "fixed", "-n", NS)
    assert code == 3 and f"alarm {ERRORS} is still in ALARM" in err
    go_ok(aws, ERRORS)
    assert cli("override", "clear", "sonic-unified", "--reason", "fixed", "-n", NS)[0] == 0
    assert override(aws) is None


def test_clear_writes_the_audit_first(world: tuple[Cli, dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    # Before: the delete came first, so a failed audit write left no trace of the clear.
    cli, aws = world
    assert cli("override", "set", "sonic-unified=0", "--reason", "choppy", "-n", NS)[0] == 0

    def audit_down(ssm: Any, name: str, record: Any, **_: Any) -> int:
        raise AwsError("ssm:PutParameter failed: injected", action="ssm:PutParameter", problem=AwsProblem.FAILED)

    monkeypatch.setattr(live_store, "put_record", audit_down)
    code, _, _ = cli("override", "clear", "sonic-unified", "--reason", "fixed", "-n", NS)
    assert code == 4
    assert override(aws) is not None  # nothing deleted without its trace


def test_history_keeps_the_revert_as_its_own_row_after_a_clear(world: tuple[Cli, dict[str, Any]]) -> None:
    cli, aws = world
    fire(aws)
    go_ok(aws, P95)
    assert cli("override", "clear", "sonic-unified", "--reason", "fixed", "-n", NS)[0] == 0
    rows = [(e["actor"], e["action"], e["detail"]) for e in cli.json("history", "-n", NS)]
    assert (f"alarm {P95}", "revert", "sonic-unified=0%") in rows
    assert rows.index((f"alarm {P95}", "revert", "sonic-unified=0%")) < [r[1] for r in rows].index("override clear")


def reason_data(after_revert: list[float]) -> tuple[datetime, str]:
    """The evaluator's StateReasonData for the OK after a revert at T0 + 600 s, with these samples after it."""
    evaluator = Evaluator([p95_alarm()])
    start = int(T0.timestamp())
    evaluator.ingest([ttfa(1200.0, start + i * 300 + 10) for i in range(2)])
    evaluator.tick(start + 600)
    evaluator.ingest([ttfa(v, start + 600 + i * 300 + 10) for i, v in enumerate(after_revert)])
    ok = next(t for now in range(start + 660, start + 7200, 60) for t in evaluator.tick(now)
              if t.state is AlarmState.OK)
    return datetime.fromtimestamp(start + 600, UTC), ok.current.reason_data


def test_clear_after_ok_on_missing_data_says_so_needs_a_reason_and_offers_the_safer_way_back(
        world: tuple[Cli, dict[str, Any]]) -> None:
    # Before: the notBreaching alarm went OK on missing data, and clear passed with no warning and no --reason.
    cli, aws = world
    reverted_at, data = reason_data([])
    fire(aws, P95, reverted_at)
    go_ok(aws, P95, data)
    assert json.loads(data)["evaluatedDatapoints"] and "value" not in json.loads(data)["evaluatedDatapoints"][0]
    code, _, err = cli("override", "clear", "sonic-unified", "-n", NS)
    assert code == 2 and "needs a reason" in err and "add --reason" in err
    code, _, err = cli("override", "clear", "sonic-unified", "--reason", "fixed", "-n", NS)
    text = " ".join(err.split())
    assert code == 0
    assert f"{P95}: OK only on missing data: no datapoint since the revert" in text
    assert "voicectl override set sonic-unified=1 --force --reason 're-canary'" in text
    assert "internal callers first: voicectl rollback --to Phase2_Week2" in text


def test_clear_after_ok_on_data_says_so_without_the_warning(world: tuple[Cli, dict[str, Any]]) -> None:
    cli, aws = world
    reverted_at, data = reason_data([300.0, 320.0])
    fire(aws, P95, reverted_at)
    go_ok(aws, P95, data)
    result = cli.json("override", "clear", "sonic-unified", "--reason", "fixed", "-n", NS)
    [judged] = result["alarms"]
    assert (judged["alarm"], judged["basis"]) == (P95, "data") and judged["datapoints_since_revert"] >= 1
    assert cli("override", "clear", "sonic-unified", "--reason", "again", "-n", NS)[0] == 2  # nothing left
