"""`voicectl runtime status` against a live runtime, and `serve`'s refusal of a bad source (exit code 2)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.app import app
from registry.compiled import CompiledRegistry
from tests.voice_runtime.wsclient import running
from voice_runtime.server import VoiceServer

pytestmark = pytest.mark.slow  # runs voicectl in subprocesses

ROOT = Path(__file__).resolve().parents[2]
VOICECTL = Path(sys.executable).parent / "voicectl"


@pytest.fixture
def live_server(compiled: CompiledRegistry) -> Iterator[VoiceServer]:
    """A runtime on its own event loop in a thread, so the synchronous CLI can call it."""
    ready = threading.Event()
    stop: list[asyncio.Event] = []
    holder: list[VoiceServer] = []

    async def main() -> None:
        async with running(compiled, phase="Phase3_Week4") as (server, _):
            holder.append(server)
            stop.append(asyncio.Event())
            ready.set()
            await stop[0].wait()

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(20)
    yield holder[0]
    loop.call_soon_threadsafe(stop[0].set)
    thread.join(20)


def test_status_reports_the_registry_copy(live_server: VoiceServer) -> None:
    result = CliRunner().invoke(app, ["runtime", "status", "--url", f"http://127.0.0.1:{live_server.port}", "--json"])
    assert result.exit_code == 0, result.output
    health = json.loads(result.stdout)
    assert health["registry"]["phase"] == "Phase3_Week4" and health["registry"]["stale"] is False
    human = CliRunner().invoke(app, ["runtime", "status", "--url", f"http://127.0.0.1:{live_server.port}"])
    assert "Phase3_Week4" in human.stdout


def test_status_without_a_runtime_is_a_usage_error() -> None:
    result = subprocess.run([str(VOICECTL), "runtime", "status", "--url", "http://127.0.0.1:9"],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 2
    assert "no runtime answering" in result.stderr and "Traceback" not in result.stderr


def test_serve_refuses_a_source_that_is_neither_ssm_nor_a_file() -> None:
    result = subprocess.run([str(VOICECTL), "runtime", "serve", "--registry-source", "nowhere.yaml"],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 2
    assert "neither 'ssm' nor a file" in result.stderr and "Traceback" not in result.stderr


def test_serve_refuses_an_unknown_nova_tool_and_names_the_built_ins() -> None:
    result = subprocess.run([str(VOICECTL), "runtime", "serve", "--nova-tool", "getWeather"],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 2
    assert "getWeather: no such built-in tool" in result.stderr and "getDateAndTimeTool" in result.stderr
    assert "Traceback" not in result.stderr
