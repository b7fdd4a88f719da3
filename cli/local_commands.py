"""voicectl local up (the embedded stack in the foreground) and voicectl loadtest (the memo's Phase 2 load test).

The commands are declared here; what they run is in cli/local_run.py, imported only when one runs (it needs the
[local] extra: cli/local_extra.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.local_extra import DEMO_REGISTRY, BackendPath, load
from cli.options import JsonFlag

local_app = typer.Typer(help="The embedded stack: moto as AWS, the runtime, emulated backends, local alarms.",
                        no_args_is_help=True)
LOADTEST_PHASE = "Phase2_Week2"  # the memo's Phase 2: internal subjects on Nova Sonic, everyone else on M1


@local_app.command("up")
def up(
    file: Annotated[Path, typer.Option("--file", help="Registry applied to the local endpoint.")] = DEMO_REGISTRY,
    port: Annotated[int, typer.Option("--port", help="Runtime port (WebSocket /ws and the browser client).")] = 8765,
    aws_port: Annotated[int, typer.Option("--aws-port", help="Port of the local AWS endpoint (moto).")] = 4566,
    phase: Annotated[str | None, typer.Option("--phase", help="Make this phase active at start (recorded as a "
                                              "forced advance).")] = None,
    samples: Annotated[Path | None, typer.Option("--samples", help="Append the runtime's metric samples here "
                                                 "(JSON lines) for voicectl advance --metrics-from samples:PATH.")]
    = Path("out/local/metrics.jsonl"),
    reply_seconds: Annotated[float, typer.Option("--reply-seconds", help="Length of emulated replies.")] = 0.6,
    backends: Annotated[BackendPath, typer.Option(
        "--backends", help="real (the default): the product's adapters over their SDKs to the protocol emulators; "
        "emulated: the in-process emulated backend (a test double).")] = "real",
    json_ready: Annotated[bool, typer.Option("--json", help="Print one JSON line with the URLs when ready.")] = False,
) -> None:
    """Run the embedded stack in the foreground: moto as the AWS endpoint with the registry applied, the voice
    runtime with its real adapters to the protocol emulators and the browser client, the local alarm
    evaluator wired to the revert handler.

    Prints the URLs and the AWS_ENDPOINT_URL to use with the other voicectl commands; Ctrl-C stops it cleanly.
    Port 0 picks a free port.
    """
    load("cli.local_run", "voicectl local up").up(file, port, aws_port, phase, samples, reply_seconds, backends,
                                                   json_ready)


def loadtest(
    sessions: Annotated[int, typer.Option("--sessions", min=1, help="Concurrent sessions.")] = 100,
    turns: Annotated[int, typer.Option("--turns", min=1, help="Turns per session.")] = 50,
    url: Annotated[str | None, typer.Option("--url", help="Runtime WebSocket URL (default: start the embedded "
                                            "stack in a child process).")] = None,
    internal_share: Annotated[float, typer.Option("--internal-share", min=0, max=1, help="Fraction of sessions that "
                                                  "are internal subjects (Nova Sonic in Phase 2).")] = 0.5,
    phase: Annotated[str, typer.Option("--phase", help="Phase of the embedded stack.")] = LOADTEST_PHASE,
    utterance_ms: Annotated[int, typer.Option("--utterance-ms", help="Length of each synthetic utterance.")] = 600,
    think_ms: Annotated[int, typer.Option("--think-ms", help="Pause between a reply and the next utterance.")] = 200,
    out_dir: Annotated[Path, typer.Option("--out", help="Where report.json and latency.png go.")]
    = Path("out/loadtest"),
    max_error_rate: Annotated[float, typer.Option("--max-error-rate", help="Exit 1 above this error rate.")] = 0.0,
    json_out: JsonFlag = False,
) -> None:
    """The memo's Phase 2 load test: N concurrent sessions x M turns over real WebSocket connections.

    Reports TTFA p50/p95/p99 per variant (HDR histograms; client-side as the memo measures it, and the server's
    own), error rate, relay overhead (client TTFA minus the backend latency the server reports), throughput and CPU.
    Writes out/loadtest/report.json and latency.png. Without --url it starts the embedded stack in a child process
    at --phase (Phase2_Week2: internal subjects on Nova Sonic, external ones on the M1 baseline).
    """
    load("cli.local_run", "voicectl loadtest").loadtest(sessions, turns, url, internal_share, phase, utterance_ms,
                                                         think_ms, out_dir, max_error_rate, json_out)


def register(app: typer.Typer) -> None:
    """Attach `local up` and `loadtest` to the voicectl app."""
    app.add_typer(local_app, name="local")
    app.command("loadtest")(loadtest)
