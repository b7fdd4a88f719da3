"""voicectl validate / compile / explain / schema / cost, end to end.

The mapping of errors to exit codes lives in cli.app.main, so exit codes and "no traceback" are checked through
main() in-process (and twice through the real console script, in a subprocess, which is slow to start); output
details go through typer's CliRunner.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.app import app, main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "voice-m2.yaml"
VOICECTL = Path(sys.executable).parent / "voicectl"
runner = CliRunner()


def voicectl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(VOICECTL), *map(str, args)], capture_output=True, text=True, cwd=ROOT, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", "NO_COLOR": "1"})


def run_main(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str | Path) -> tuple[
        int, str, str]:
    """Run the console entry point in-process: (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["voicectl", *map(str, args)])
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as done:
        main()
    out, err = capsys.readouterr()
    code = done.value.code
    return (code if isinstance(code, int) else 0 if code is None else 1), out, err


@pytest.fixture
def bad_file(tmp_path: Path) -> Path:
    text = EXAMPLE.read_text()
    text = text.replace("    statistic: p95\n", "    statistic: P95\n", 1)
    text = text.replace("{transcribe-polly-baseline: 75, sonic-unified: 25,", "{transcribe-polly-baseline: 75, "
                        "sonic-unified: 26,", 1)
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    return path


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_validate_example_exits_0(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run_main(capsys, monkeypatch, "validate", EXAMPLE)
    assert code == 0
    assert "voice-m2.yaml: valid (0 error(s), 3 warning(s))" in out  # + the two 2 x 300 s alarms past the RTO


def test_validate_bad_file_exits_1_with_locations_and_no_traceback(bad_file: Path) -> None:
    # Through the real console script: several files in one run, the good one is still checked.
    done = voicectl("validate", bad_file, EXAMPLE)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr + done.stdout
    stat_line, weight_line = line_of(bad_file, "statistic: P95"), line_of(bad_file, "sonic-unified: 26")
    assert f"{bad_file}:{weight_line}:14: error: weights of phase 'Phase3_Week5' sum to 101, not 100" in done.stderr
    assert f"{bad_file}:{stat_line}:16: error: statistic 'P95' is not valid for CloudWatch (fix: write it in " \
           "lower case: p95)" in done.stderr
    assert done.stderr.index(f":{weight_line}:14:") < done.stderr.index(f":{stat_line}:16:")  # file order
    assert f"{bad_file}: invalid (2 error(s), 3 warning(s))" in done.stdout  # deprecate + two alarms past the RTO
    assert "voice-m2.yaml: valid (0 error(s), 3 warning(s))" in done.stdout


@pytest.mark.parametrize(("args", "message"), [
    (["validate"], "Missing argument 'files'"), (["validate", "--bogus", "x.yaml"], "No such option: --bogus"),
    (["compile"], "Missing argument 'file'"), (["nosuchcommand"], "No such command 'nosuchcommand'"),
], ids=["missing-argument", "unknown-option", "compile-without-file", "unknown-command"])
def test_usage_errors_exit_2(args: list[str], message: str, capsys: pytest.CaptureFixture[str],
                             monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run_main(capsys, monkeypatch, *args)
    assert code == 2
    assert "Traceback" not in err
    assert "Usage:" in err
    assert message in err


def test_usage_error_through_the_console_script() -> None:
    done = voicectl("validate", "--bogus", "x.yaml")
    assert done.returncode == 2
    assert "No such option: --bogus" in done.stderr
    assert "Traceback" not in done.stderr


def test_compile_bad_file_exits_1_without_traceback(bad_file: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "plan.json"
    code, _, err = run_main(capsys, monkeypatch, "compile", bad_file, "--out", out)
    assert code == 1
    assert "Traceback" not in err
    assert f"{bad_file}:{line_of(bad_file, 'statistic: P95')}:16: error: statistic 'P95' is not valid" in err
    assert f"error: 2 error(s) in {bad_file}\nnext step: fix the lines listed above, then run: voicectl validate " \
           f"{bad_file}\n" in err
    assert not out.exists(), "nothing is written for an invalid file"


def test_compile_missing_file_exits_1(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    code, _, err = run_main(capsys, monkeypatch, "compile", "no/such/file.yaml")
    assert code == 1
    assert "no/such/file.yaml:1:1: error: cannot read the file: No such file or directory" in err
    assert "Traceback" not in err


def test_validate_json_reports_every_diagnostic(bad_file: Path) -> None:
    result = runner.invoke(app, ["validate", "--json", str(bad_file)])
    assert result.exit_code == 1
    (report,) = json.loads(result.stdout)
    assert report["valid"] is False
    errors = [d for d in report["diagnostics"] if d["severity"] == "error"]
    assert [(d["line"], d["column"], d["severity"]) for d in errors] == [
        (line_of(bad_file, "sonic-unified: 26"), 14, "error"), (line_of(bad_file, "statistic: P95"), 16, "error")]
    assert errors[1]["hint"] == "write it in lower case: p95"
    warnings = [d for d in report["diagnostics"] if d["severity"] == "warning"]
    assert warnings[0]["line"] == line_of(bad_file, "action: deprecate")
    assert [d["message"].split(" reverts ")[0] for d in warnings[1:]] == [
        "alarm 'VoiceM2_P95_Breach'", "alarm 'VoiceM2_Error_Rate_Breach'"]
    assert all("beyond the memo's 60 s RTO" in d["message"] for d in warnings[1:])


def test_compile_out_is_deterministic(tmp_path: Path) -> None:
    first, second = tmp_path / "a" / "plan.json", tmp_path / "b.json"
    for target in (first, second):
        result = runner.invoke(app, ["compile", str(EXAMPLE), "--out", str(target)])
        assert result.exit_code == 0, result.output
    assert first.read_bytes() == second.read_bytes()
    plan = json.loads(first.read_text())
    assert [a["name"] for a in plan["alarms"]] == ["VoiceM2_Bedrock_Error_Spike", "VoiceM2_Error_Rate_Breach",
                                                   "VoiceM2_P95_Breach", "VoiceM2_TTFA_Regression"]
    stdout = runner.invoke(app, ["compile", str(EXAMPLE)]).stdout
    assert stdout.encode() == first.read_bytes()


def test_explain_shows_variants_phases_alarms() -> None:
    result = runner.invoke(app, ["explain", str(EXAMPLE)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for text in ("transcribe-polly-baseline (baseline)", "nova_sonic", "Phase3_Week4", "sonic-unified=5", "48h",
                 "VoiceM2_TTFA_ms p50 (sonic-unified) < 300", "sign-off mirror_tone_quality >= 4/5",
                 "AWS/Bedrock InvocationErrors Sum GreaterThanThreshold 5 for 1 of 1 x 60 s",
                 "revert sonic-unified, roll back deployment", "SSM /silentinfinity/voice/registry: 2400 bytes, "
                 "Standard tier"):
        assert text in result.stdout, text


def test_explain_prints_user_text_verbatim(tmp_path: Path) -> None:
    # Alarm names are user text: a rich-markup-looking name must print as written, not crash the renderer.
    path = tmp_path / "markup.yaml"
    path.write_text(EXAMPLE.read_text().replace("  VoiceM2_TTFA_Regression:", "  'VoiceM2 [/x] [bold]':"))
    result = runner.invoke(app, ["explain", str(path)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "VoiceM2 [/x] [bold]" in result.stdout


@pytest.mark.parametrize(("flag", "file"), [([], "voice-registry.schema.json"),
                                            (["--compiled"], "compiled-registry.schema.json")])
def test_schema_prints_the_committed_schema(flag: list[str], file: str) -> None:
    result = runner.invoke(app, ["schema", *flag])
    assert result.exit_code == 0
    assert result.stdout == (ROOT / "schema" / file).read_text()


def test_cost_json_figures() -> None:
    result = runner.invoke(app, ["cost", str(EXAMPLE), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    totals = {v["variant"]: v["monthly"] for v in data["variants"]}
    assert totals == {"transcribe-polly-baseline": 1095.20, "sonic-unified": 3996.49, "sesame-csm1b": 2385.65,
                      "ws-echo": 15.0}
    per_turn = {v["variant"]: v["per_turn"] for v in data["variants"]}
    assert per_turn["sonic-unified"] == 0.07993
    nova_lines = {ln["item"]: (ln["monthly"], ln["memo_monthly"]) for ln in data["variants"][1]["lines"]}
    assert nova_lines["Nova Sonic speech input tokens"] == (433.5, 362.0)
    assert nova_lines["Nova Sonic speech output tokens"] == (3468.0, 2890.0)
    assert {"cheaper_below": "sonic-unified", "cheaper_above": "sesame-csm1b", "turns_per_month": 28180} in \
        data["break_even"]


def test_cost_human_output_flags_the_memos_errors() -> None:
    result = runner.invoke(app, ["cost", str(EXAMPLE)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "sonic-unified: USD 3,996.49/month, 0.0799/turn at 50,000 turns" in result.stdout
    assert "2,890.00 (off by +578.00)" in result.stdout
    assert "362.00 (off by +71.50)" in result.stdout
    assert "break-even: sonic-unified is cheaper below 28,180 turns/month, sesame-csm1b above it" in result.stdout


def test_cost_at_another_volume() -> None:
    result = runner.invoke(app, ["cost", str(EXAMPLE), "--json", "--turns-per-month", "200000"])
    totals = {v["variant"]: v["monthly"] for v in json.loads(result.stdout)["variants"]}
    assert totals["sonic-unified"] == 15985.95
    assert totals["sesame-csm1b"] == 3301.4


def test_cost_without_pricing_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    text = EXAMPLE.read_text()
    path = tmp_path / "nopricing.yaml"
    path.write_text(text[: text.index("# The memo's cost model")])
    code, _, err = run_main(capsys, monkeypatch, "cost", path)
    assert code == 2
    assert "has no pricing: section" in err
    assert "next step: add pricing: (see examples/voice-m2.yaml)" in err
    assert "Traceback" not in err
