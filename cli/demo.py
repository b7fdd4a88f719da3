"""voicectl demo: what `make demo` runs. A whole canary with an automatic revert, on the embedded stack."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.local_extra import DEMO_REGISTRY, NovaSonicPath, load
from cli.options import JsonFlag


def demo(
    file: Annotated[Path, typer.Option("--file", help="Registry to run the demo with (short bakes and periods).")]
    = DEMO_REGISTRY,
    out_dir: Annotated[Path, typer.Option("--out", help="Where the JSON report and the PNG timeline go.")]
    = Path("out/demo"),
    nova_sonic: Annotated[NovaSonicPath, typer.Option(
        "--nova-sonic", help="emulated: the in-process emulated backend (light, the default); protocol: the real "
        "Nova Sonic relay (aws_sdk_bedrock_runtime over HTTP/2 + TLS) to the protocol-level emulator.")] = "emulated",
    json_out: JsonFlag = False,
) -> None:
    """Run a whole canary with an automatic revert on the embedded stack (no AWS account; about a minute).

    Starts moto's server as the AWS endpoint, applies the demo registry, starts the voice runtime with emulated
    backends (Nova Sonic ~150 ms, M1 ~750 ms) and the local alarm evaluator wired to the revert handler, drives
    tens of concurrent synthetic conversations over WebSocket, advances Phase1 -> Phase2 -> the 5% canary through
    the rollout guard, injects a latency regression into Nova Sonic, and watches the p95 alarm revert it. Prints a
    timeline and a summary, writes out/demo/report.json and out/demo/timeline.png. Exit 0 only if every check held.
    """
    load("cli.demo_run", "voicectl demo").main(file, out_dir, nova_sonic, json_out)


def register(app: typer.Typer) -> None:
    """Attach `voicectl demo` to the voicectl app."""
    app.command()(demo)
