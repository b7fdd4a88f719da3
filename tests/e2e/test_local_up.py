"""`voicectl local up`: the embedded stack in the foreground, its URLs, the browser client, a clean Ctrl-C."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_local_up_serves_and_stops_cleanly(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "from cli.app import main; main()", "local", "up", "--json", "--port", "0",
         "--aws-port", "0", "--samples", str(tmp_path / "metrics.jsonl")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        info = json.loads(child.stdout.readline())
        assert info["runtime_ws_url"].startswith("ws://127.0.0.1:") and info["runtime_ws_url"].endswith("/ws")
        with urllib.request.urlopen(info["web_url"], timeout=10) as page:
            assert b"<script src=\"app.js\"></script>" in page.read()
        with urllib.request.urlopen(info["web_url"] + "app.js", timeout=10) as script:
            assert b"window.voiceClient" in script.read()
        with urllib.request.urlopen(info["web_url"] + "healthz", timeout=10) as health:
            assert json.loads(health.read())["registry"]["has_copy"] is True
        # the AWS endpoint is moto's, with the demo registry applied
        req = urllib.request.Request(info["aws_endpoint_url"] + "/moto-api/data.json")
        with urllib.request.urlopen(req, timeout=10) as data:
            assert b"/silentinfinity/voice-demo/registry" in data.read()
    finally:
        child.send_signal(signal.SIGINT)
        code = child.wait(timeout=30)
    assert code == 0, child.stderr.read() if child.stderr else ""
