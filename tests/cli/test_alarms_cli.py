"""voicectl alarms list / backtest: output, --json, exit codes (list against moto's HTTP server)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from cli.app import main
from control_plane.alarms.local import put_alarms
from control_plane.aws.session import Clients
from control_plane.compiler import compile_plan
from registry.loader import load_registry
from tests.conftest import EXAMPLE, ROOT

HISTORY = ROOT / "examples" / "metrics-regression.jsonl"


def voicectl(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["voicectl", *args])
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_backtest_prints_when_each_alarm_would_fire(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = voicectl(monkeypatch, capsys, "alarms", "backtest", str(EXAMPLE), "--metrics", str(HISTORY))
    assert code == 0
    assert "2026-11-20 14:48:00  VoiceM2_P95_Breach  OK -> ALARM  would revert sonic-unified to 0%; stop the " \
           "CodeDeploy deployment; notify voice-m2-oncall" in out
    # 2 x 300 s, evaluated every minute: the earliest is one period after the regression, the latest 2 periods + 60 s
    assert "fires 300 s (5 min) to 660 s (11 min) after a regression starts (evaluated every 60 s" in out
    assert "VoiceM2_TTFA_Regression  OK -> ALARM  notify voice-m2-engineering" in out
    assert "VoiceM2_Bedrock_Error_Spike: never fired" in out


def test_backtest_json_and_alarm_filter(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = voicectl(monkeypatch, capsys, "alarms", "backtest", str(EXAMPLE), "--metrics", str(HISTORY),
                            "--alarm", "VoiceM2_P95_Breach", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["alarms"] == ["VoiceM2_P95_Breach"]
    # The sliding window re-reads overlapping periods every minute, so this noisy history flaps as it would in AWS.
    assert [(e["at"], e["state"]) for e in report["events"]] == [
        ("2026-11-20T14:48:00+00:00", "ALARM"), ("2026-11-20T14:52:00+00:00", "OK"),
        ("2026-11-20T14:53:00+00:00", "ALARM"), ("2026-11-20T14:58:00+00:00", "OK"),
        ("2026-11-20T14:59:00+00:00", "ALARM"), ("2026-11-20T15:03:00+00:00", "OK")]
    assert report["time_to_detect"]["VoiceM2_P95_Breach"]["latest_seconds"] == 660


def test_backtest_csv_history(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                              capsys: pytest.CaptureFixture[str]) -> None:
    rows = ["timestamp,metric,Variant,value"]
    rows += [f"{1795000000 + i},VoiceM2_TTFA_ms,sonic-unified,{950 if i < 600 else 300}" for i in range(0, 1200, 10)]
    history = tmp_path / "history.csv"
    history.write_text("\n".join(rows) + "\n")
    code, out, _ = voicectl(monkeypatch, capsys, "alarms", "backtest", str(EXAMPLE), "--metrics", str(history),
                            "--json")
    assert code == 0
    fired = [e for e in json.loads(out)["events"] if e["state"] == "ALARM"]
    assert [e["alarm"] for e in fired] == ["VoiceM2_P95_Breach"]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        pytest.param(["--metrics", "nope.jsonl"], 1, "cannot read nope.jsonl", id="missing-history"),
        pytest.param(["--metrics", str(HISTORY), "--alarm", "Nope"], 2, "no alarm named Nope", id="unknown-alarm"),
    ],
)
def test_backtest_errors_have_exit_codes_and_no_traceback(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str], args: list[str],
                                                          code: int, message: str) -> None:
    got, _, err = voicectl(monkeypatch, capsys, "alarms", "backtest", str(EXAMPLE), *args)
    assert got == code
    assert message in err and "Traceback" not in err


def test_backtest_bad_line_is_located(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    history = tmp_path / "h.jsonl"
    history.write_text('{"timestamp": 1, "metric": "VoiceM2_TTFA_ms", "value": 1}\n{"metric": "x"}\n')
    code, _, err = voicectl(monkeypatch, capsys, "alarms", "backtest", str(EXAMPLE), "--metrics", str(history))
    assert code == 1
    assert f"{history}:2: missing field(s) timestamp, value" in err


@pytest.mark.slow
def test_list_shows_states_from_describe_alarms(aws_endpoint: str, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    clients = Clients(endpoint_url=aws_endpoint, region="us-east-1")
    put_alarms(clients.cloudwatch, compile_plan(load_registry(EXAMPLE)))
    clients.cloudwatch.set_alarm_state(AlarmName="VoiceM2_P95_Breach", StateValue="ALARM",
                                       StateReason="Threshold Crossed: test")
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_endpoint)
    code, out, _ = voicectl(monkeypatch, capsys, "alarms", "list", str(EXAMPLE), "--json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows["VoiceM2_P95_Breach"]["state"] == "ALARM"
    assert rows["VoiceM2_P95_Breach"]["revert"] == ["sonic-unified"]
    assert rows["VoiceM2_TTFA_Regression"]["state"] in {"OK", "INSUFFICIENT_DATA"}  # moto creates alarms OK
    code, out, err = voicectl(monkeypatch, capsys, "alarms", "list", "--prefix", "VoiceM2_P95")
    assert code == 0 and "VoiceM2_P95_Breach" in out and "ALARM" in out
    assert "VoiceM2_TTFA_Regression" not in out
    assert "firing: VoiceM2_P95_Breach" in err
    code, out, _ = voicectl(monkeypatch, capsys, "alarms", "--json")  # the group alone lists every alarm
    assert code == 0 and len(json.loads(out)) == 4
    code, out, _ = voicectl(monkeypatch, capsys, "alarms", "list", str(EXAMPLE), "--prefix", "VoiceM2_P95", "--json")
    assert [r["name"] for r in json.loads(out)] == ["VoiceM2_P95_Breach"]


@pytest.mark.slow
def test_list_marks_declared_but_unapplied_alarms(aws_endpoint: str, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_endpoint)
    code, out, _ = voicectl(monkeypatch, capsys, "alarms", "list", str(EXAMPLE), "--json")
    assert code == 0
    assert {r["state"] for r in json.loads(out)} == {None}


def test_list_unreachable_endpoint_is_an_aws_error(monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    code, _, err = voicectl(monkeypatch, capsys, "alarms", "list")
    assert code == 4
    assert "cloudwatch:DescribeAlarms" in err and "Traceback" not in err
