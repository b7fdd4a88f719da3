"""voicectl advance / rollback / approve / override / status / history / runbook / decommission, end to end
against moto's HTTP server with real boto3 calls (AWS_ENDPOINT_URL). The clock is pinned with VOICECTL_NOW.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from typer.testing import CliRunner

from cli.app import app
from cli.errors import fail
from cli.output import Output
from control_plane.aws import live_store
from control_plane.compiler import compile_plan
from registry.errors import VoiceRolloutError
from registry.live_state import OverrideRecord, live_state_from_parameters
from registry.loader import load_registry

T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)
NS = "/silentinfinity/voice"

# A small registry with Average gates (moto's GetMetricData computes those) for the CloudWatch path.
SMALL = """
version: 1
namespace: /test/small
metrics_namespace: Test/Voice
baseline: base
cache_ttl_seconds: 30
variants:
  base: {voice_stt: transcribe_streaming, voice_llm: claude, voice_tts: polly_generative, transport: sse}
  sonic: {voice_stt: nova_sonic_unified, voice_llm: nova_sonic_unified, voice_tts: nova_sonic_unified,
          transport: websocket, bedrock_model_id: amazon.nova-sonic-v1:0}
phases:
  - name: P1
    weights: {base: 100, sonic: 0}
    internal_weights: {base: 0, sonic: 100}
    bake: 1h
    gates:
      - {metric: SessionError, statistic: Average, dimensions: {Variant: sonic}, below: 0.05}
  - name: P2
    weights: {base: 90, sonic: 10}
    bake: 2h
    gates:
      - {metric: SessionError, statistic: Average, dimensions: {Variant: sonic}, below: 0.05}
  - name: P3
    weights: {base: 0, sonic: 100}
alarms:
  ErrorBreach:
    metric: SessionError
    statistic: Average
    dimensions: {Variant: sonic}
    period: 60
    evaluation_periods: 1
    threshold: 0.1
    comparison: GreaterThanThreshold
    actions: {revert: [sonic]}
"""


class Cli:
    """Runs voicectl in-process and words an error as cli.app.main does (cli.errors.report)."""

    def __init__(self, endpoint: str, file: Path) -> None:
        self.endpoint, self.file, self.now = endpoint, file, T0
        self.runner = CliRunner()

    def __call__(self, *args: str, at: datetime | None = None) -> tuple[int, str, str]:
        env = {"AWS_ENDPOINT_URL": self.endpoint, "VOICECTL_NOW": (at or self.now).isoformat(),
               "VOICECTL_ACTOR": "release-owner", "COLUMNS": "200"}
        result = self.runner.invoke(app, list(args), env=env)
        code = result.exit_code
        if isinstance(result.exception, VoiceRolloutError):
            words = io.StringIO()
            with contextlib.redirect_stderr(words), pytest.raises(SystemExit) as done:
                fail(result.exception, Output(), args)
            return int(done.value.code or 0), result.stdout, result.stderr + words.getvalue()
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return code, result.stdout, result.stderr

    def json(self, *args: str, at: datetime | None = None) -> Any:
        code, out, err = self(*args, "--json", at=at)
        assert code == 0, err
        return json.loads(out)


def _apply(endpoint: str, file: Path) -> dict[str, Any]:
    """What `voicectl apply` would write (apply belongs to another module): the registry parameter and alarms."""
    plan = compile_plan(load_registry(file))
    ssm = boto3.client("ssm", endpoint_url=endpoint, region_name="us-east-1")
    cw = boto3.client("cloudwatch", endpoint_url=endpoint, region_name="us-east-1")
    for p in plan.parameters:
        ssm.put_parameter(Name=p.name, Value=p.value, Type="String", Tier=p.tier, Overwrite=True)
    for a in plan.alarms:
        cw.put_metric_alarm(**a.args)
        cw.set_alarm_state(AlarmName=a.name, StateValue="OK", StateReason="test")
    return {"ssm": ssm, "cw": cw}


def _samples(path: Path, start: datetime, end: datetime, good: bool = True) -> Path:
    """Raw samples for every gate of the example (p50/p95 need raw data: moto computes no percentiles)."""
    rows = []
    t = start
    while t <= end:
        for variant in ("ws-echo", "sonic-unified", "sesame-csm1b"):
            dims = {"Variant": variant}
            rows.append({"namespace": "SilentInfinity/Voice", "metric": "VoiceM2_TTFA_ms", "dimensions": dims,
                         "timestamp": t.isoformat(), "value": 30.0 if variant == "ws-echo" else
                         (150.0 if good else 450.0)})
            rows.append({"namespace": "SilentInfinity/Voice", "metric": "VoiceM2_SessionError", "dimensions": dims,
                         "timestamp": t.isoformat(), "value": 0.0})
            rows.append({"namespace": "SilentInfinity/Voice", "metric": "VoiceM2_ModelLatency", "dimensions": dims,
                         "timestamp": t.isoformat(), "value": 400.0})
        t += timedelta(hours=1)
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


@pytest.fixture
def example(aws_endpoint: str, example_path: Path) -> tuple[Cli, dict[str, Any]]:
    return Cli(aws_endpoint, example_path), _apply(aws_endpoint, example_path)


@pytest.fixture
def small(aws_endpoint: str, tmp_path: Path) -> tuple[Cli, dict[str, Any]]:
    file = tmp_path / "small.yaml"
    file.write_text(SMALL)
    return Cli(aws_endpoint, file), _apply(aws_endpoint, file)


def _put_errors(cw: Any, at: datetime, value: float, n: int = 5) -> None:
    cw.put_metric_data(Namespace="Test/Voice", MetricData=[
        {"MetricName": "SessionError", "Dimensions": [{"Name": "Variant", "Value": "sonic"}],
         "Timestamp": at + timedelta(minutes=i), "Value": value} for i in range(n)])


def test_small_rollout_through_all_phases_with_cloudwatch_average_gates(small) -> None:  # type: ignore[no-untyped-def]
    cli, aws = small
    f = str(cli.file)
    # GIVEN nothing was ever advanced: the first advance records `init` and refuses (the bake starts now)
    code, _, err = cli("advance", f)
    assert code == 3
    assert "must bake 1h" in err and "no data" in err
    _put_errors(aws["cw"], T0 + timedelta(minutes=5), 0.0)
    # WHEN the bake has elapsed and the gate's data holds THEN it advances
    result = cli.json("advance", f, "--reason", "P1 clean", at=T0 + timedelta(hours=1, minutes=1))
    assert result["to"] == "P2" and result["action"] == "advance"
    assert result["decision"]["gates"][0]["value"] == 0.0
    assert result["effective_weights"]["external"]["sonic"] == 10.0
    # P2's bake is 2h from its start
    code, _, err = cli("advance", f, at=T0 + timedelta(hours=2))
    assert code == 3 and "P2 must bake 2h" in err and "1h 1m remain" in err
    _put_errors(aws["cw"], T0 + timedelta(hours=2), 0.01)
    result = cli.json("advance", f, "--reason", "P2 clean", at=T0 + timedelta(hours=3, minutes=2))
    assert result["to"] == "P3"
    code, _, err = cli("advance", f, at=T0 + timedelta(hours=9))
    assert code == 2 and "last phase" in err
    history = cli.json("history", f)
    assert [(e["action"], e["detail"]) for e in history] == [
        ("init", "P1"), ("advance", "P1 -> P2"), ("advance", "P2 -> P3")]


def test_refuses_when_the_gate_fails_and_names_value_and_limit(small) -> None:  # type: ignore[no-untyped-def]
    cli, aws = small
    f = str(cli.file)
    cli("advance", f)  # init at T0
    _put_errors(aws["cw"], T0 + timedelta(minutes=70), 0.2)  # inside the window: the last 1h bake
    code, _out, err = cli("advance", f, at=T0 + timedelta(hours=2))
    assert code == 3
    assert "SessionError Average [Variant=sonic] is 0.2, must be < 0.05" in err
    assert "must bake" not in err  # only what actually fails is listed
    state = live_state_from_parameters("/test/small", live_store.read_namespace(aws["ssm"], "/test/small"))
    assert state.phase is not None and state.phase.phase == "P1"


def test_refuses_when_an_alarm_is_in_alarm(small) -> None:  # type: ignore[no-untyped-def]
    cli, aws = small
    f = str(cli.file)
    cli("advance", f)
    _put_errors(aws["cw"], T0 + timedelta(minutes=70), 0.0)
    aws["cw"].set_alarm_state(AlarmName="ErrorBreach", StateValue="ALARM", StateReason="test")
    code, _, err = cli("advance", f, at=T0 + timedelta(hours=2))
    assert code == 3 and "alarm ErrorBreach is in ALARM" in err
    decision = json.loads(cli("advance", f, "--json", at=T0 + timedelta(hours=2))[1])["decision"]
    assert [r["code"] for r in decision["reasons"]] == ["alarm_in_alarm"]


def test_refusal_lists_every_failed_condition_at_once(small) -> None:  # type: ignore[no-untyped-def]
    cli, aws = small
    f = str(cli.file)
    cli("advance", f)
    aws["cw"].set_alarm_state(AlarmName="ErrorBreach", StateValue="ALARM", StateReason="test")
    cli("override", "set", "sonic=0", "--reason", "looks bad", "-f", f)
    code, out, _ = cli("advance", f, "--json", at=T0 + timedelta(minutes=10))
    assert code == 3
    decision = json.loads(out)["decision"]
    assert {r["code"] for r in decision["reasons"]} == {
        "bake_remaining", "gate_inconclusive", "alarm_in_alarm", "override_active"}
    bake = next(r for r in decision["reasons"] if r["code"] == "bake_remaining")
    assert bake["could_pass_at"] == (T0 + timedelta(hours=1)).isoformat()


def test_force_overrides_the_guard_and_is_recorded(small) -> None:  # type: ignore[no-untyped-def]
    cli, _ = small
    f = str(cli.file)
    assert cli("advance", f, "--force")[0] == 2  # --force needs --reason
    result = cli.json("advance", f, "--force", "--reason", "exec decision", at=T0 + timedelta(minutes=1))
    assert result["action"] == "force" and result["to"] == "P2"
    last = cli.json("history", f)[-1]
    assert last["action"] == "force" and "exec decision" in last["reason"] and "bake_remaining" in last["reason"]


def test_rollback_always_works_and_defaults_to_the_previous_phase(small) -> None:  # type: ignore[no-untyped-def]
    cli, aws = small
    f = str(cli.file)
    cli("advance", f, "--force", "--reason", "r")
    cli("advance", f, "--force", "--reason", "r")
    aws["cw"].set_alarm_state(AlarmName="ErrorBreach", StateValue="ALARM", StateReason="test")
    assert cli.json("rollback", f, "--reason", "p95 up")["to"] == "P2"
    assert cli.json("rollback", "--namespace", "/test/small", "--to", "P1")["to"] == "P1"
    code, _, err = cli("rollback", f)
    assert code == 2 and "first phase" in err


def test_example_advances_through_every_phase_with_local_samples_and_approval(example, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cli, _ = example
    f = str(cli.file)
    src = f"samples:{_samples(tmp_path / 'm.jsonl', T0, T0 + timedelta(days=60))}"
    now = T0
    cli("advance", f, "--metrics-from", src, at=now)  # init Phase1_Week1
    visited = ["Phase1_Week1"]
    bakes = {"Phase1_Week1": 7, "Phase2_Week2": 14, "Phase3_Week4": 2, "Phase3_Week5": 2, "Phase4_Week6": 2}
    for phase, days in bakes.items():
        now += timedelta(days=days, minutes=1)
        if phase == "Phase2_Week2":
            code, _, err = cli("advance", f, "--metrics-from", src, at=now)
            assert code == 3 and "approval mirror_tone_quality: not recorded" in err
            assert cli("approve", phase, f, "--score", "4.2", "--by", "qa-panel", at=now)[0] == 0
        result = cli.json("advance", f, "--metrics-from", src, "--reason", f"{phase} held", at=now)
        assert result["from"] == phase and result["decision"]["allowed"]
        visited.append(result["to"])
    assert visited[-1] == "Phase4_Week7"
    status = cli.json("status", f, at=now + timedelta(days=3))
    assert status["phase"]["name"] == "Phase4_Week7"
    assert status["effective_weights"]["external"]["sonic-unified"] == 100.0
    assert [(s["action"], s["state"]) for s in status["decommission"]] == [
        ("keep_warm", "due"), ("scale_to_zero", "due"), ("deprecate", "pending")]


def test_path_b_at_the_decision_gate(example, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cli, _ = example
    f = str(cli.file)
    code, _, err = cli("advance", f, "--path", "csm-fallback")
    assert code == 2 and "branches from Phase2_Week2" in err
    cli("advance", f, "--force", "--reason", "to the gate", at=T0)
    # Nova Sonic misses the Phase 2 target (p50 450 ms): Path A is refused, Path B is taken after the bake
    src = f"samples:{_samples(tmp_path / 'm.jsonl', T0, T0 + timedelta(days=15), good=False)}"
    end = T0 + timedelta(days=14, minutes=1)
    code, _, err = cli("advance", f, "--metrics-from", src, at=end)
    assert code == 3 and "is 450, must be < 200" in err
    code, _, err = cli("advance", f, "--path", "csm-fallback", "--metrics-from", src, at=T0 + timedelta(days=3))
    assert code == 3 and "must bake 14d" in err and "must be < 200" not in err.split("refused:")[-1]
    result = cli.json("advance", f, "--path", "csm-fallback", "--metrics-from", src, "--reason", "sonic p50 450 ms",
                      at=end)
    assert result["to"] == "PathB_CSM_Internal" and result["path"] == "csm-fallback" and result["action"] == "advance"
    assert result["effective_weights"]["internal"]["sesame-csm1b"] == 100.0
    assert result["effective_weights"]["external"]["transcribe-polly-baseline"] == 100.0
    assert cli.json("rollback", f, "--reason", "back to the gate")["to"] == "Phase2_Week2"


def test_overrides_set_list_clear_and_history(example) -> None:  # type: ignore[no-untyped-def]
    cli, aws = example
    f = str(cli.file)
    cli("advance", f, "--force", "--reason", "r")  # init Phase1_Week1, then Phase2_Week2
    cli("advance", f, "--force", "--reason", "to canary")  # Phase3_Week4: sonic 5%
    assert cli("override", "set", "sonic-unified=0", "-f", f)[0] == 2  # a reason is required
    assert cli("override", "set", "nope=0", "--reason", "x", "-f", f)[0] == 2
    written = cli.json("override", "set", "sonic-unified=0", "--reason", "choppy audio", "-f", f)
    assert written["effective_weights"]["external"] == {
        "sesame-csm1b": 0.0, "sonic-unified": 0.0, "transcribe-polly-baseline": 100.0, "ws-echo": 0.0}
    live_store.put_override(aws["ssm"], NS, OverrideRecord(
        variant="sesame-csm1b", share=0, source="alarm", alarm="VoiceM2_P95_Breach", at=T0))
    listed = cli.json("override", "list", "-n", NS)
    assert [(o["variant"], o["source"]) for o in listed["overrides"]] == [
        ("sesame-csm1b", "alarm"), ("sonic-unified", "person")]
    assert cli.json("override", "clear", "sonic-unified", "--reason", "fixed", "-n", NS)["cleared"] == ["sonic-unified"]
    assert cli("override", "clear", "sonic-unified", "-n", NS)[0] == 2
    assert cli("override", "clear", "-n", NS)[0] == 2  # an alarm's revert needs a reason to be cleared
    assert cli.json("override", "clear", "-n", NS, "--reason", "fixed")["cleared"] == ["sesame-csm1b"]
    actions = [(e["action"], e["detail"]) for e in cli.json("history", "-n", NS)]
    assert ("override clear", "sonic-unified (was sonic-unified=0% by person release-owner at "
            f"{T0.isoformat()}: choppy audio)") in actions
    assert ("override clear", "sesame-csm1b (was sesame-csm1b=0% by alarm VoiceM2_P95_Breach at "
            f"{T0.isoformat()}: -)") in actions


def test_status_shows_phase_bake_weights_overrides_alarms_and_next_gates(example, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cli, aws = example
    f = str(cli.file)
    cli("advance", f, "--force", "--reason", "r", at=T0)
    aws["cw"].set_alarm_state(AlarmName="VoiceM2_P95_Breach", StateValue="ALARM", StateReason="test")
    src = f"samples:{_samples(tmp_path / 'm.jsonl', T0, T0 + timedelta(days=3), good=False)}"
    doc = cli.json("status", f, "--metrics-from", src, at=T0 + timedelta(days=1))
    assert doc["phase"]["name"] == "Phase2_Week2" and doc["phase"]["since"] == T0.isoformat()
    assert doc["phase"]["bake_remaining"] == "13d"
    assert doc["effective_weights"]["internal"]["sonic-unified"] == 100.0
    assert doc["alarms"]["VoiceM2_P95_Breach"] == "ALARM"
    gates = {g["gate"]: (g["value"], g["verdict"]) for g in doc["next"]["decision"]["gates"]}
    assert gates["VoiceM2_TTFA_ms p50 [Variant=sonic-unified]"] == (450.0, "fail")
    assert doc["runbook_map"]["emergency_value"] == '{"sonic-unified": 0, "transcribe-polly-baseline": 100}'
    code, out, _ = cli("status", f, "--metrics-from", src, at=T0 + timedelta(days=1))
    assert code == 0 and "Phase2_Week2" in out and "FAIL" in out and "ALARM" in out


def test_runbook_emergency_revert_verify_and_clear(example) -> None:  # type: ignore[no-untyped-def]
    cli, aws = example
    f = str(cli.file)
    for _ in range(2):  # init + Phase2_Week2, then Phase3_Week4
        cli("advance", f, "--force", "--reason", "r")
    text = cli("runbook", "-f", f)[1]
    assert "phase: Phase3_Week4" in text and "sonic-unified 5%" in text
    assert """--value '{"sonic-unified": 0, "transcribe-polly-baseline": 100}' --overwrite""" in text
    result = cli.json("runbook", "emergency-revert", "--reason", "robotic voice", "-n", NS)
    assert aws["ssm"].get_parameter(Name=f"{NS}/variant_overrides")["Parameter"]["Value"] == (
        '{"sonic-unified": 0, "transcribe-polly-baseline": 100}')
    written = datetime.fromisoformat(result["written_at"])
    assert datetime.fromisoformat(result["all_runtimes_by"]) - written == timedelta(seconds=30)
    verified = cli.json("runbook", "verify", "-n", NS, "--subject", "caller-7")
    assert verified["ok"] and verified["external"]["sonic-unified"] == 0.0
    assert verified["sampled"]["external"] == {"transcribe-polly-baseline": 100.0}
    assert verified["variant"] == "transcribe-polly-baseline"
    assert cli("advance", f, "--json")[0] == 3  # the map holds the rollout
    assert "emergency revert" in cli.json("history", "-n", NS)[-1]["action"] + cli.json(
        "history", "-n", NS)[-1]["reason"]
    assert cli("runbook", "clear", "--reason", "fixed", "-n", NS)[0] == 0
    assert cli.json("runbook", "verify", "-n", NS)["external"]["sonic-unified"] == 5.0


def test_a_hand_written_runbook_map_is_honoured_and_a_malformed_one_fails_verify(example) -> None:  # type: ignore[no-untyped-def]
    cli, aws = example
    for _ in range(3):
        cli("advance", str(cli.file), "--force", "--reason", "r")
    # the memo's exact command: aws ssm put-parameter --name ... --value '{...}' --overwrite
    aws["ssm"].put_parameter(Name=f"{NS}/variant_overrides",
                             Value='{"sonic-unified": 0, "transcribe-polly-baseline": 100}', Type="String",
                             Overwrite=True)
    verified = cli.json("runbook", "verify", "-n", NS)
    assert verified["ok"] and verified["external"]["transcribe-polly-baseline"] == 100.0
    aws["ssm"].put_parameter(Name=f"{NS}/variant_overrides", Value="{'sonic-unified': 0}", Type="String",
                             Overwrite=True)
    code, _out, err = cli("runbook", "verify", "-n", NS)
    assert code == 1 and "does not parse" in err


def test_decommission_records_due_deprecation(example) -> None:  # type: ignore[no-untyped-def]
    cli, _ = example
    f = str(cli.file)
    for _ in range(5):
        cli("advance", f, "--force", "--reason", "r", at=T0)
    early = cli.json("decommission", "run", f, "--yes", at=T0 + timedelta(days=3))
    assert early["recorded"] == []
    later = cli.json("decommission", "run", f, "--yes", at=T0 + timedelta(days=14))
    assert later["recorded"] == ["transcribe-polly-baseline"]
    assert [s["state"] for s in later["steps"]] == ["due", "due", "done"]
    status = cli.json("status", f, at=T0 + timedelta(days=14))
    assert status["deprecated"] == ["transcribe-polly-baseline"]
    assert [s["state"] for s in status["decommission"]] == ["due", "due", "done"]


def test_usage_errors_for_missing_namespace_and_unapplied_registry(aws_endpoint: str) -> None:
    cli = Cli(aws_endpoint, Path("unused"))
    assert cli("status")[0] == 2
    code, _, err = cli("status", "-n", "/nothing/here")
    assert code == 1 and "voicectl apply" in err


@pytest.mark.slow
def test_real_entry_point_exits_3_on_refusal(small) -> None:  # type: ignore[no-untyped-def]
    cli, _ = small
    env = {"AWS_ENDPOINT_URL": cli.endpoint, "VOICECTL_NOW": T0.isoformat(), "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1", "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", "from cli.app import main; main()", "advance", str(cli.file)],
                          env=env, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[2],
                          timeout=60)
    assert proc.returncode == 3, proc.stderr
    assert "refused" in proc.stderr and "Traceback" not in proc.stderr


def test_advance_refuses_when_the_file_is_not_what_is_applied(small, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cli, aws = small
    changed = tmp_path / "changed.yaml"
    changed.write_text(SMALL.replace("weights: {base: 90, sonic: 10}", "weights: {base: 80, sonic: 20}"))
    cli("advance", str(cli.file))  # init
    _put_errors(aws["cw"], T0 + timedelta(minutes=70), 0.0)
    code, out, _ = cli("advance", str(changed), "--json", at=T0 + timedelta(hours=2))
    assert code == 3
    assert [r["code"] for r in json.loads(out)["decision"]["reasons"]] == ["file_differs_from_applied"]


def test_status_without_the_file_still_shows_what_runtimes_serve(small) -> None:  # type: ignore[no-untyped-def]
    cli, _ = small
    doc = cli.json("status", "-n", "/test/small")
    assert doc["phase"] == {**doc["phase"], "name": "P1", "initialised": False, "since": None}
    assert doc["effective_weights"]["internal"] == {"base": 0.0, "sonic": 100.0}
    assert doc["next"]["phase"] == "P2" and doc["next"]["decision"] is None
    assert "pass the registry FILE" in doc["next"]["note"]


def test_help_says_where_data_comes_from_and_that_deleted_parameters_lose_history() -> None:
    runner = CliRunner()
    history_help = runner.invoke(app, ["history", "--help"], env={"COLUMNS": "300"}).stdout
    assert "loses ALL history of a deleted one" in " ".join(history_help.split())
    advance_help = " ".join(runner.invoke(app, ["advance", "--help"], env={"COLUMNS": "300"}).stdout.split())
    assert "applied <namespace>/registry parameter" in advance_help and "exits 3" in advance_help


def test_status_rollback_and_emergency_work_when_the_active_phase_was_removed(small) -> None:  # type: ignore[no-untyped-def]
    cli, aws = small
    live_store.put_value(aws["ssm"], "/test/small/rollout/phase",
                         json.dumps({"phase": "P9_removed", "at": T0.isoformat()}))
    doc = cli.json("status", str(cli.file))
    assert doc["effective_weights"]["external"] == {"base": 100.0, "sonic": 0.0}  # fail safe: the baseline
    assert "not in the registry" in doc["next"]["note"]
    assert cli.json("runbook", "emergency-revert", "--reason", "lost", "-n", "/test/small")["value"] == {
        "sonic": 0, "base": 100}
    assert cli.json("rollback", "-n", "/test/small", "--to", "P1")["to"] == "P1"


def test_an_invalid_file_is_reported_line_by_line_with_exit_1(aws_endpoint: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nnamespace: bad\n")
    code, _, err = Cli(aws_endpoint, bad)("advance", str(bad))
    assert code == 1
    assert f"{bad}:2:12: error: namespace must be an SSM path" in " ".join(err.split())


def test_clearing_a_revert_while_its_alarm_still_fires_needs_force(example) -> None:  # type: ignore[no-untyped-def]
    cli, aws = example
    live_store.put_override(aws["ssm"], NS, OverrideRecord(
        variant="sonic-unified", share=0, source="alarm", alarm="VoiceM2_P95_Breach", at=T0))
    aws["cw"].set_alarm_state(AlarmName="VoiceM2_P95_Breach", StateValue="ALARM", StateReason="test")
    code, _, err = cli("override", "clear", "sonic-unified", "-n", NS)
    assert code == 3 and "VoiceM2_P95_Breach is still in ALARM" in err
    assert "sonic-unified" in live_store.read_live_state(aws["ssm"], NS).overrides
    forced = cli.json("override", "clear", "sonic-unified", "--force", "--reason", "false positive", "-n", NS)
    assert forced["cleared"] == ["sonic-unified"]


def test_never_moves_to_a_phase_the_applied_registry_lacks(small, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cli, _ = small
    longer = tmp_path / "longer.yaml"
    longer.write_text(SMALL.replace("  - name: P3\n", "  - name: P2b\n    weights: {base: 50, sonic: 50}\n"
                                    "  - name: P3\n"))
    cli("advance", str(cli.file), "--force", "--reason", "r")  # init P1 -> P2
    code, _, err = cli("advance", str(longer), "--force", "--reason", "not applied yet")
    assert code == 2 and "P2b is not in the applied registry" in err


def test_clearing_a_revert_restarts_the_bake(small) -> None:  # type: ignore[no-untyped-def]
    cli, aws = small
    f = str(cli.file)
    cli("advance", f)  # init at T0, bake 1h
    cli("override", "set", "sonic=0", "--reason", "glitch", "-f", f, at=T0 + timedelta(minutes=40))
    cli("override", "clear", "sonic", "--reason", "fixed", "-f", f, at=T0 + timedelta(minutes=50))
    _put_errors(aws["cw"], T0 + timedelta(minutes=55), 0.0)
    code, _, err = cli("advance", f, at=T0 + timedelta(minutes=70))
    assert code == 3 and "restarted 2026-05-01T09:50:00+00:00 by override clear of sonic" in err
    assert cli.json("advance", f, "--reason", "clean", at=T0 + timedelta(minutes=111))["to"] == "P2"
