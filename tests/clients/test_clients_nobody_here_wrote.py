"""Nova Sonic clients nobody here wrote, against the emulator: 3 turns with a tool call and a barge-in.

* pipecat's `AWSNovaSonicLLMService` (pipecat-ai 1.14.0, which pins aws-sdk-bedrock-runtime < 0.10), in its own
  virtualenv (.venv-tools/pipecat, `make tool-venvs`): tests/clients/pipecat_conversation.py builds a pipecat
  pipeline around it and reports the LLM context, which must alternate user / assistant.
* AWS's amazon-nova-samples console sample cannot be committed nor installed from a registry, so
  tests/clients/nova_sample_client.py is NOT the sample: it is an equivalent of the sample's event handling on the
  sample's own SDK (aws-sdk-bedrock-runtime 0.9's class names), in .venv-tools/nova-sample.

Each client runs in a subprocess with its own interpreter; only the endpoint and the certificate trust point at
the emulator, which runs here in-process.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from emulators.behaviour import Behaviour, Latency
from emulators.server import EmulatorServer
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
HERE = Path(__file__).resolve().parent


def interpreter(venv: str) -> Path:
    python = ROOT / ".venv-tools" / venv / "bin" / "python"
    if not python.exists():
        if os.environ.get("VOICE_REQUIRE_TOOLS"):
            pytest.fail(f"{python} is missing (make tool-venvs)")
        pytest.skip(f"{python} is missing (make tool-venvs)")
    return python


@pytest.fixture
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer() as server:
        # Replies long enough to be talked over; every third turn asks for the first tool offered.
        server.emulators.nova.behaviour = Behaviour(latency=Latency(median_ms=150), reply_audio_ms=2500,
                                                    tool_every=3)
        yield server


def run_client(venv: str, script: str, server: EmulatorServer) -> dict[str, Any]:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "emulated", "AWS_SECRET_ACCESS_KEY": "emulated",
           "AWS_REGION": "us-east-1", "PYTHONPATH": ""}
    done = subprocess.run([str(interpreter(venv)), str(HERE / script), server.url, str(server.cert.cert_file)],
                          capture_output=True, text=True, timeout=120, env=env, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def test_an_equivalent_of_awss_console_sample_completes_three_turns_with_a_tool_and_a_barge_in(
        emulator: EmulatorServer) -> None:
    seen = run_client("nova-sample", "nova_sample_client.py", emulator)
    assert seen["errors"] == []
    assert len(seen["user"]) == 3  # three user turns transcribed
    assert seen["barge_ins"] == 1 and seen["dropped_audio_bytes"] > 0  # the reply talked over, its queue cleared
    assert [r["date"] for r in seen["tool_results"]] == ["2026-12-04"]
    assert any(t.startswith("I looked that up") and "2026-12-04" in t for t in seen["assistant"])
    [log] = emulator.emulators.nova.streams
    assert log.violation is None and log.interruptions == 1
    assert log.tools_offered == ["getDateAndTimeTool", "trackOrderTool"] and len(log.tool_results) == 1
    assert log.names[-3:] == ["contentEnd", "promptEnd", "sessionEnd"]


def test_pipecats_nova_sonic_service_completes_three_turns_with_a_tool_and_a_barge_in(
        emulator: EmulatorServer) -> None:
    seen = run_client("pipecat", "pipecat_conversation.py", emulator)
    spoken = [(m["role"], m["content"]) for m in seen["messages"]
              if m["role"] in ("user", "assistant") and not m["tool_calls"]]
    # pipecat's context alternates user / assistant, one assistant message per reply (with every audio block
    # ended PARTIAL_TURN, pipecat once put all three replies in one message)
    assert [role for role, _ in spoken] == ["user", "assistant"] * 3
    assert [text for role, text in spoken if role == "user"] == [f"(emulated speech, turn {n})" for n in (1, 2, 3)]
    assert spoken[1][1] == "Here is the answer you asked for.Anything more?"  # turn 1's reply only
    assert spoken[5][1].startswith("I looked that up") and "2026-12-04" in spoken[5][1]
    # the tool call and its result are in the context (pipecat files them when it runs the function, which is
    # when it also hands the user's transcript upstream: they land just before the third user message)
    roles = [m["role"] for m in seen["messages"]]
    assert roles.count("tool") == 1 and sum(m["tool_calls"] for m in seen["messages"]) == 1
    assert seen["tool_calls"] == [{}] and seen["interruptions"] >= 1  # pipecat cleared the talked-over audio
    [log] = emulator.emulators.nova.streams
    assert log.violation is None and log.interruptions == 1 and len(log.tool_results) == 1
