"""voicectl demo: what `make demo` runs. A whole canary with an automatic revert, on the embedded stack."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.local_extra import DEMO_REGISTRY, BackendPath, load
from cli.options import JsonFlag


def demo(
    file: Annotated[Path, typer.Option("--file", help="Registry to run the demo with (short bakes and periods).")]
    = DEMO_REGISTRY,
    out_dir: Annotated[Path, typer.Option("--out", help="Where the JSON report and the PNG timeline go.")]
    = Path("out/demo"),
    backends: Annotated[BackendPath, typer.Option(
        "--backends", help="real-nova (the default): Nova Sonic through its real adapter and SDK (HTTP/2 stream) to "
        "the protocol emulator, the M1 and CSM pipelines on the in-process emulated backend; real: every backend "
        "through its real adapter (the 60 M1 callers then overload a 2-core machine: BENCHMARKS.md); emulated: the "
        "in-process emulated backend for all (a test double).")] = "real-nova",
    json_out: JsonFlag = False,
) -> None:
    """Run a whole canary with an automatic revert on the embedded stack (no AWS account; about a minute).

    Starts moto's server as the AWS endpoint, applies the demo registry, starts the voice runtime (Nova Sonic through
    its real SDK adapter to the protocol emulator, ~150 ms; M1 ~750 ms) and the local alarm evaluator wired to
    the revert handler, drives
    tens of concurrent synthetic conversations over WebSocket, advances Phase1 -> Phase2 -> the 5% canary through
    the rollout guard, injects a latency regression into Nova Sonic, and watches the p95 alarm revert it. Prints a
    timeline and a summary, writes out/demo/report.json and out/demo/timeline.png. Exit 0 only if every check held.
    """
    load("cli.demo_run", "voicectl demo").main(file, out_dir, backends, json_out)


def register(app: typer.Typer) -> None:
    """Attach `voicectl demo` to the voicectl app."""
    app.command()(demo)
