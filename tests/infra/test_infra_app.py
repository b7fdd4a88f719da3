"""cdk.json's app command (what `npx cdk synth` runs) synthesises the registry named in the CDK context."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

from tests.conftest import EXAMPLE, ROOT


def test_cdk_json_app_synthesises_the_context_registry(tmp_path: Path) -> None:
    config = json.loads((ROOT / "cdk.json").read_text())
    command = shlex.split(config["app"])
    assert command[0] == "python3" and command[1:] == ["-m", "infra.app"]
    # What the CDK CLI passes to the app: the output directory and the context (cdk.json's plus -c flags).
    edited = tmp_path / "registry.yaml"
    edited.write_text(EXAMPLE.read_text().replace("threshold: 800\n", "threshold: 777\n", 1))
    context = {**config["context"], "registry": str(edited),
               "relay_certificate_arn": "arn:aws:acm:us-east-1:111122223333:certificate/voice-relay"}
    env = {**os.environ, "CDK_OUTDIR": str(tmp_path / "out"), "CDK_CONTEXT_JSON": json.dumps(context),
           "CDK_VALIDATION": "false", "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    done = subprocess.run([sys.executable, *command[1:]], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    template = json.loads((tmp_path / "out" / "VoiceRolloutControlPlane.template.json").read_text())
    thresholds = {r["Properties"]["AlarmName"]: r["Properties"]["Threshold"]
                  for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"}
    assert thresholds["VoiceM2_P95_Breach"] == 777
    assert (tmp_path / "out" / "VoiceRolloutRuntime.template.json").is_file()


def test_cdk_json_app_refuses_a_plain_ws_relay_nobody_asked_for(tmp_path: Path) -> None:
    env = {**os.environ, "CDK_OUTDIR": str(tmp_path / "out"), "CDK_VALIDATION": "false",
           "CDK_CONTEXT_JSON": json.dumps({"registry": str(EXAMPLE)}),
           "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    done = subprocess.run([sys.executable, "-m", "infra.app"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "relay_allow_plain_ws=true" in done.stderr and "relay_certificate_arn" in done.stderr


def test_cdk_json_app_refuses_an_invalid_registry(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\n")
    env = {**os.environ, "CDK_OUTDIR": str(tmp_path / "out"), "CDK_CONTEXT_JSON": json.dumps({"registry": str(bad)}),
           "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    done = subprocess.run([sys.executable, "-m", "infra.app"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode != 0
    assert "invalid registry" in done.stderr and "voicectl validate" in done.stderr
