"""`voicectl infra synth`: in-process synthesis with a summary; invalid input exits 1 without touching CDK."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from cli.app import app
from tests.conftest import EXAMPLE, ROOT
from tests.infra.conftest import CERTIFICATE  # (importing it sets the jsii environment before aws_cdk)


def test_synth_writes_the_assembly_and_summarises_it(tmp_path: Path) -> None:
    out = tmp_path / "assembly"
    result = CliRunner().invoke(app, ["infra", "synth", str(EXAMPLE), "--out", str(out), "--json",
                                      "--relay-certificate-arn", CERTIFICATE])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["nag"]["findings"] == []
    # synthesised with CDK's CloudFormation schema validation on: the templates pass it
    assert report["cfn_validation"] == []
    assert report["warnings"] == []  # a certificate was given: no plain-HTTP relay to warn about
    stacks = {s["name"]: s for s in report["stacks"]}
    assert sorted(stacks) == ["VoiceRolloutControlPlane", "VoiceRolloutRuntime"]
    assert stacks["VoiceRolloutControlPlane"]["alarms"] == sorted(
        ["VoiceM2_Bedrock_Error_Spike", "VoiceM2_Error_Rate_Breach", "VoiceM2_P95_Breach", "VoiceM2_TTFA_Regression"])
    assert stacks["VoiceRolloutRuntime"]["resources"]["AWS::ApiGatewayV2::Route"] == 3
    assert (out / "VoiceRolloutControlPlane.template.json").is_file()
    assert (out / "manifest.json").is_file()
    print(f"\n[infra] voicectl infra synth: build+nag {report['seconds']['build']} s, "
          f"synth {report['seconds']['synth']} s")


def test_invalid_registry_exits_1_with_its_location(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.read_text().replace("baseline: transcribe-polly-baseline", "baseline: nope", 1))
    result = CliRunner().invoke(app, ["infra", "synth", str(bad), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert not (tmp_path / "o").exists()


def test_voicectl_starts_without_importing_cdk() -> None:
    # The relay container installs no CDK, and every voicectl command would otherwise pay for starting node.
    probe = "import sys, cli.app; sys.exit(int(any(m.split('.')[0] in ('aws_cdk', 'infra') for m in sys.modules)))"
    assert subprocess.run([sys.executable, "-c", probe], cwd=ROOT, timeout=60).returncode == 0


def test_synth_refuses_a_plain_ws_relay_unless_asked_for(tmp_path: Path) -> None:
    from cli.errors import ExitCode, report
    from registry.errors import VoiceRolloutError

    result = CliRunner().invoke(app, ["infra", "synth", str(EXAMPLE), "--out", str(tmp_path / "a")])
    # a usage error (voicectl's main prints its message and next step and exits 2) naming both ways out
    assert isinstance(result.exception, VoiceRolloutError)
    shown = report(result.exception)
    assert shown.exit_code == ExitCode.USAGE
    assert "--allow-plain-ws" in (shown.next_step or "") and "--relay-certificate-arn" in (shown.next_step or "")
    assert not list((tmp_path / "a").glob("*.template.json"))  # nothing synthesised
