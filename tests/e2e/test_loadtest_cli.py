"""`voicectl loadtest` end to end: it starts the embedded stack in a child process and drives real sessions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def test_loadtest_against_the_embedded_stack(tmp_path: Path) -> None:
    out = tmp_path / "loadtest"
    proc = subprocess.run(
        [sys.executable, "-c", "from cli.app import main; main()", "loadtest", "--sessions", "8", "--turns", "3",
         "--utterance-ms", "300", "--think-ms", "50", "--out", str(out), "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(proc.stdout)
    assert report["turns"] == 24 and report["errors"] == 0
    # Phase 2 of the demo registry: internal subjects (half of them) on Nova Sonic, the others on the M1 baseline
    assert set(report["per_variant"]) == {"sonic-unified", "transcribe-polly-baseline"}
    sonic = report["per_variant"]["sonic-unified"]
    assert sonic["client_ttfa"]["count"] == 12
    assert sonic["relay_overhead"]["p50_ms"] is not None
    assert sonic["client_ttfa"]["p50_ms"] < report["per_variant"]["transcribe-polly-baseline"]["client_ttfa"]["p50_ms"]
    assert {c["process"].split(" ")[0] for c in report["cpu"]} == {"loadtest", "runtime"}
    assert (out / "report.json").exists() and (out / "latency.png").read_bytes()[:4] == b"\x89PNG"
