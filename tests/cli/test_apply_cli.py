"""voicectl plan / apply end to end against moto's HTTP server (real boto3 calls over AWS_ENDPOINT_URL)."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import boto3
import pytest

import cli.apply_commands as apply_commands
from cli.app import main
from control_plane.compiler import OWNER_TAG
from tests.conftest import EXAMPLE, ROOT
from tests.control_plane.aws.recording import RecordingClients

NS = "/silentinfinity/voice"
pytestmark = pytest.mark.slow


def voicectl(endpoint: str, *args: str, subprocess_: bool = False) -> subprocess.CompletedProcess[str]:
    """voicectl configured only through the environment, stdin not a terminal: main() in this process, as the
    console script runs it (a subprocess costs a second of imports per call), or the real CLI in a subprocess."""
    env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"}
    if subprocess_:
        return subprocess.run([sys.executable, "-c", "from cli.app import main; main()", *args], cwd=ROOT,
                              env={**os.environ, **env}, capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              timeout=120)
    out, err = io.StringIO(), io.StringIO()
    code: int = 0
    with (mock.patch.dict(os.environ, env), mock.patch.object(sys, "argv", ["voicectl", *args]),
          mock.patch.object(sys, "stdin", io.StringIO()), contextlib.redirect_stdout(out),
          contextlib.redirect_stderr(err)):
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    return subprocess.CompletedProcess(["voicectl", *args], code, out.getvalue(), err.getvalue())


def edited(tmp_path: Path, name: str, edit: Callable[[str], str]) -> Path:
    text = EXAMPLE.read_text()
    new = edit(text)
    assert new != text, "the edit must change the file"
    path = tmp_path / name
    path.write_text(new)
    return path


def raise_threshold(text: str) -> str:
    return text.replace("    threshold: 800\n", "    threshold: 900\n")


def drop_ttfa_regression(text: str) -> str:
    start = text.index("  VoiceM2_TTFA_Regression:")
    return text[:start] + text[text.index("\ntopics:"):]


def cloudwatch(endpoint: str) -> Any:
    return boto3.client("cloudwatch", endpoint_url=endpoint, region_name="us-east-1")


def alarm_names(endpoint: str) -> set[str]:
    return {a["AlarmName"] for a in cloudwatch(endpoint).describe_alarms()["MetricAlarms"]}


def test_apply_apply_again_change_one_threshold_apply_plan_clean(aws_endpoint: str, tmp_path: Path) -> None:
    first = voicectl(aws_endpoint, "apply", str(EXAMPLE), "--yes")
    assert first.returncode == 0, first.stderr
    assert "Plan: 7 to create, 0 to update, 0 to delete." in first.stdout
    assert "Apply complete: 7 created" in first.stdout
    ssm = boto3.client("ssm", endpoint_url=aws_endpoint, region_name="us-east-1")
    version = ssm.get_parameter(Name=f"{NS}/registry")["Parameter"]["Version"]

    again = voicectl(aws_endpoint, "apply", str(EXAMPLE))  # no --yes needed: nothing to confirm
    assert again.returncode == 0, again.stderr
    assert "No changes." in again.stdout
    assert ssm.get_parameter(Name=f"{NS}/registry")["Parameter"]["Version"] == version

    copy = edited(tmp_path, "voice-m2.yaml", raise_threshold)
    plan = voicectl(aws_endpoint, "plan", str(copy), "--detailed-exitcode")
    assert plan.returncode == 2, plan.stderr
    assert "~ alarm VoiceM2_P95_Breach" in plan.stdout
    assert "Threshold: 800.0 -> 900.0" in plan.stdout
    assert "Plan: 0 to create, 1 to update, 0 to delete." in plan.stdout

    as_json = voicectl(aws_endpoint, "plan", str(copy), "--json")
    assert as_json.returncode == 0
    doc = json.loads(as_json.stdout)
    assert doc["changes"] == [{"action": "update", "kind": "alarm", "name": "VoiceM2_P95_Breach",
                               "fields": [{"field": "Threshold", "old": 800.0, "new": 900.0}]}]

    applied = voicectl(aws_endpoint, "apply", str(copy), "--yes")
    assert applied.returncode == 0, applied.stderr
    assert "(1 AWS write call(s))" in applied.stdout
    clean = voicectl(aws_endpoint, "plan", str(copy), "--detailed-exitcode")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "No changes." in clean.stdout
    assert cloudwatch(aws_endpoint).describe_alarms(AlarmNames=["VoiceM2_P95_Breach"])["MetricAlarms"][0][
        "Threshold"] == 900.0


def test_deleting_an_alarm_from_the_file_deletes_it_but_never_an_untagged_one(aws_endpoint: str,
                                                                              tmp_path: Path) -> None:
    assert voicectl(aws_endpoint, "apply", str(EXAMPLE), "--yes").returncode == 0
    cloudwatch(aws_endpoint).put_metric_alarm(
        AlarmName="Someone_Elses_Alarm", MetricName="m", Namespace="SilentInfinity/Voice", Statistic="Sum",
        Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    copy = edited(tmp_path, "voice-m2.yaml", drop_ttfa_regression)
    plan = voicectl(aws_endpoint, "plan", str(copy))
    assert "- alarm VoiceM2_TTFA_Regression" in plan.stdout
    assert "Someone_Elses_Alarm" not in plan.stdout
    result = voicectl(aws_endpoint, "apply", str(copy), "--yes")
    assert result.returncode == 0, result.stderr
    assert alarm_names(aws_endpoint) == {"VoiceM2_P95_Breach", "VoiceM2_Error_Rate_Breach",
                                         "VoiceM2_Bedrock_Error_Spike", "Someone_Elses_Alarm"}


def test_alarm_owned_by_another_registry_is_refused_with_exit_1(aws_endpoint: str) -> None:
    cloudwatch(aws_endpoint).put_metric_alarm(
        AlarmName="VoiceM2_P95_Breach", MetricName="m", Namespace="n", Statistic="Sum", Period=60,
        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold",
        Tags=[{"Key": OWNER_TAG, "Value": "/another/registry"}])
    result = voicectl(aws_endpoint, "apply", str(EXAMPLE), "--yes")
    assert result.returncode == 1
    assert "alarm VoiceM2_P95_Breach (owned by /another/registry)" in result.stderr
    assert alarm_names(aws_endpoint) == {"VoiceM2_P95_Breach"}


def set_active_phase(endpoint: str, phase: str) -> None:
    """What `voicectl advance` leaves behind (written here directly: advance is another command's job)."""
    ssm = boto3.client("ssm", endpoint_url=endpoint, region_name="us-east-1")
    ssm.put_parameter(Name=f"{NS}/rollout/phase", Type="String", Overwrite=True,
                      Value=json.dumps({"phase": phase, "at": "2026-11-25T10:00:00Z", "actor": "alice"}))


def test_plan_shows_the_traffic_a_weight_change_moves_in_the_active_phase(aws_endpoint: str, tmp_path: Path) -> None:
    assert voicectl(aws_endpoint, "apply", str(EXAMPLE), "--yes").returncode == 0
    set_active_phase(aws_endpoint, "Phase3_Week4")
    copy = edited(tmp_path, "voice-m2.yaml", lambda t: t.replace(
        "transcribe-polly-baseline: 95, sonic-unified: 5", "transcribe-polly-baseline: 90, sonic-unified: 10"))
    result = voicectl(aws_endpoint, "plan", str(copy))
    assert result.returncode == 0, result.stderr
    assert "value.phases[2].weights.sonic-unified: 5 -> 10" in result.stdout
    assert "Traffic after apply (active phase: Phase3_Week4" in result.stdout
    assert re.search(r"all subjects\s+sonic-unified\s+5% -> 10%", result.stdout)
    doc = json.loads(voicectl(aws_endpoint, "plan", str(copy), "--json").stdout)
    assert {"audience": "all", "variant": "sonic-unified", "before": 5.0, "after": 10.0} in doc["traffic"]["moves"]


def test_apply_refuses_a_file_without_the_active_phase_with_exit_3(aws_endpoint: str, tmp_path: Path) -> None:
    assert voicectl(aws_endpoint, "apply", str(EXAMPLE), "--yes").returncode == 0
    set_active_phase(aws_endpoint, "Phase3_Week4")
    ssm = boto3.client("ssm", endpoint_url=aws_endpoint, region_name="us-east-1")
    version = ssm.get_parameter(Name=f"{NS}/registry")["Parameter"]["Version"]
    renamed = edited(tmp_path, "v.yaml", lambda t: t.replace("- name: Phase3_Week4\n", "- name: Phase3_Canary\n"))
    result = voicectl(aws_endpoint, "apply", str(renamed), "--yes")
    assert result.returncode == 3
    assert "apply refused: the active phase Phase3_Week4 is not in the file" in result.stderr
    assert "voicectl rollback --to PHASE" in result.stderr
    assert ssm.get_parameter(Name=f"{NS}/registry")["Parameter"]["Version"] == version


def test_plan_warns_about_live_values_that_do_not_parse(aws_endpoint: str) -> None:
    ssm = boto3.client("ssm", endpoint_url=aws_endpoint, region_name="us-east-1")
    ssm.put_parameter(Name=f"{NS}/variant_overrides", Type="String", Value='{"sonic-unified": "zero"}')
    result = voicectl(aws_endpoint, "plan", str(EXAMPLE))
    assert result.returncode == 0
    assert f"live state does not parse: {NS}/variant_overrides:" in result.stderr
    assert "read as everything to the baseline" in " ".join(result.stderr.split())


def test_apply_without_yes_on_a_pipe_refuses_with_exit_2(aws_endpoint: str) -> None:
    result = voicectl(aws_endpoint, "apply", str(EXAMPLE))
    assert result.returncode == 2
    assert "refusing to apply without confirmation" in result.stderr
    assert "--yes" in result.stderr
    assert alarm_names(aws_endpoint) == set()


def test_invalid_file_is_exit_1_and_touches_nothing(aws_endpoint: str, tmp_path: Path) -> None:
    bad = edited(tmp_path, "bad.yaml", lambda t: t.replace("baseline: transcribe-polly-baseline", "baseline: nope"))
    result = voicectl(aws_endpoint, "plan", str(bad), "--detailed-exitcode")
    assert result.returncode == 1
    assert "bad.yaml:" in result.stderr


def test_unreachable_endpoint_is_an_aws_error_exit_4(tmp_path: Path) -> None:
    result = voicectl("http://127.0.0.1:9", "plan", str(EXAMPLE), subprocess_=True)  # the real entry point
    assert result.returncode == 4
    assert "endpoint" in result.stderr


# --- in-process: count the calls and inject faults -----------------------------------------------------------

class Harness:
    """Runs voicectl's main() in-process with clients that record calls and can fail the Nth write."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], endpoint: str) -> None:
        self.monkeypatch, self.capsys, self.endpoint = monkeypatch, capsys, endpoint
        self.clients: list[RecordingClients] = []
        self.fail_write: int | None = None
        monkeypatch.setattr(apply_commands, "clients_from", self._clients)

    def _clients(self, endpoint_url: str | None, region: str | None, profile: str | None) -> RecordingClients:
        made = RecordingClients(endpoint_url=endpoint_url, region=region, profile=profile, fail_write=self.fail_write)
        self.clients.append(made)
        return made

    def run(self, *args: str, stdin: str = "") -> tuple[int, str, str]:
        self.monkeypatch.setattr(sys, "argv", ["voicectl", *args, "--endpoint-url", self.endpoint])
        self.monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = self.capsys.readouterr()
        return code, captured.out, captured.err

    @property
    def writes(self) -> list[tuple[str, str]]:
        return self.clients[-1].writes


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], aws_endpoint: str) -> Harness:
    return Harness(monkeypatch, capsys, aws_endpoint)


def test_second_apply_makes_zero_write_calls(harness: Harness) -> None:
    code, out, _ = harness.run("apply", str(EXAMPLE), "--yes")
    assert code == 0
    assert len(harness.writes) == 7
    code, out, _ = harness.run("apply", str(EXAMPLE), "--yes")
    assert code == 0
    assert "No changes." in out
    assert harness.writes == []


def test_interactive_confirmation(harness: Harness) -> None:
    harness.monkeypatch.setattr(apply_commands, "_interactive", lambda: True)
    code, _, err = harness.run("apply", str(EXAMPLE), stdin="n\n")
    assert code == 1
    assert "cancelled" in err
    assert harness.writes == []
    code, out, _ = harness.run("apply", str(EXAMPLE), stdin="y\n")
    assert code == 0, out
    assert len(harness.writes) == 7


def test_failed_call_exits_5_listing_applied_and_pending_then_rerun_converges(harness: Harness) -> None:
    harness.fail_write = 4
    code, _, err = harness.run("apply", str(EXAMPLE), "--yes")
    assert code == 5
    assert "apply stopped at 'create alarm VoiceM2_Bedrock_Error_Spike'" in err
    assert err.count("  applied: ") == 3
    assert f"  applied: create parameter {NS}/registry" in err
    assert err.count("  NOT applied: ") == 4
    assert "  NOT applied: create alarm VoiceM2_Bedrock_Error_Spike" in err
    # the next step is the command that failed, complete: rerunning it converges
    assert f"next step: rerun voicectl apply {EXAMPLE} --yes --endpoint-url {harness.endpoint}: it converges" in err
    harness.fail_write = None
    code, out, _ = harness.run("apply", str(EXAMPLE), "--yes")
    assert code == 0
    assert "Plan: 4 to create, 0 to update, 0 to delete." in out
    code, out, _ = harness.run("plan", str(EXAMPLE), "--detailed-exitcode")
    assert (code, "No changes." in out) == (0, True)


def test_apply_json_reports_the_write_calls(harness: Harness) -> None:
    code, out, _ = harness.run("apply", str(EXAMPLE), "--yes", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["write_calls"] == 7
    assert doc["summary"] == {"create": 7, "update": 0, "delete": 0}
    assert doc["applied"][2] == f"create parameter {NS}/registry"  # before any alarm exists
    code, out, _ = harness.run("apply", str(EXAMPLE), "--yes", "--json")
    assert json.loads(out)["write_calls"] == 0


def test_plan_reads_only_and_tags_what_apply_writes(harness: Harness) -> None:
    code, out, _ = harness.run("plan", str(EXAMPLE), "--detailed-exitcode")
    assert code == 2
    assert "+ parameter /silentinfinity/voice/registry" in out
    assert harness.writes == []
    harness.run("apply", str(EXAMPLE), "--yes")
    sns = boto3.client("sns", endpoint_url=harness.endpoint, region_name="us-east-1")
    arn = "arn:aws:sns:us-east-1:123456789012:voice-m2-oncall"
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": OWNER_TAG, "Value": NS}]
