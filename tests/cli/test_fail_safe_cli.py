"""Malformed live state is an error in `status` and `runbook verify`; `runbook clear` keeps the parameter, so the
memo's runbook command (no --type) keeps working, run here through the real AWS CLI against moto's server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_rollout_cli import NS, Cli, _apply

MEMO_VALUE = '{"sonic-unified": 0, "transcribe-polly-baseline": 100}'
AWS = Path(sys.executable).with_name("aws")


@pytest.fixture
def example(aws_endpoint: str, example_path: Path) -> tuple[Cli, dict[str, Any]]:
    return Cli(aws_endpoint, example_path), _apply(aws_endpoint, example_path)


def memo_command(endpoint: str) -> subprocess.CompletedProcess[str]:
    """The memo's runbook command verbatim (spec/voice-m2-memo.txt), pointed at moto's server."""
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1"}
    return subprocess.run([str(AWS), "--endpoint-url", endpoint, "ssm", "put-parameter",
                           "--name", "/silentinfinity/voice/variant_overrides", "--value", MEMO_VALUE, "--overwrite"],
                          env=env, capture_output=True, text=True, timeout=120)


def test_status_exits_1_and_names_a_malformed_override(example: tuple[Cli, dict[str, Any]]) -> None:
    cli, aws = example
    for _ in range(2):  # init + Phase2_Week2, then Phase3_Week4: sonic-unified 5%
        cli("advance", str(cli.file), "--force", "--reason", "r")
    aws["ssm"].put_parameter(Name=f"{NS}/overrides/sonic-unified", Value='{"variant": "sonic-unified", "share": 0',
                             Type="String", Overwrite=True)
    code, out, err = cli("status", "-n", NS)
    assert code == 1
    assert "read as sonic-unified at 0%" in " ".join(err.split())
    code, out, _ = cli("status", "-n", NS, "--json")
    assert code == 1 and '"sonic-unified": 0.0' in out  # the document still shows what runtimes serve
    code, _, err = cli("runbook", "verify", "-n", NS)
    assert code == 1 and "read as sonic-unified at 0%" in " ".join(err.split())


def test_runbook_clear_keeps_the_parameter_and_its_type_for_the_memos_command(
        example: tuple[Cli, dict[str, Any]]) -> None:
    cli, aws = example
    for _ in range(2):
        cli("advance", str(cli.file), "--force", "--reason", "r")
    ssm = aws["ssm"]
    # The first emergency: real SSM needs --type to create the parameter, as the runbook voicectl prints says.
    ssm.put_parameter(Name=f"{NS}/variant_overrides", Value=MEMO_VALUE, Type="String")
    assert cli("runbook", "clear", "--reason", "fixed", "-n", NS)[0] == 0
    kept = ssm.get_parameter(Name=f"{NS}/variant_overrides")["Parameter"]
    assert (kept["Type"], kept["Value"]) == ("String", "{}")
    assert cli.json("runbook", "verify", "-n", NS)["external"]["sonic-unified"] == 5.0  # nothing pinned
    # The next emergency: the memo's command verbatim, no --type, updates the kept parameter.
    proc = memo_command(cli.endpoint)
    assert proc.returncode == 0, proc.stderr
    assert ssm.get_parameter(Name=f"{NS}/variant_overrides")["Parameter"]["Value"] == MEMO_VALUE
    assert cli.json("runbook", "verify", "-n", NS)["external"]["sonic-unified"] == 0.0
    history = cli.json("history", "-n", NS)
    assert ("runbook clear", "variant_overrides (was " + MEMO_VALUE + ")") in [(e["action"], e["detail"])
                                                                           for e in history]
