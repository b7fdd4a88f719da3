"""voicectl runtime serve | status: run the bundled voice runtime, or ask a running one how fresh it is."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Annotated

import typer

from cli.errors import CommandError
from cli.options import EndpointUrl, JsonFlag, Profile, Region, clients_from
from cli.output import Output
from registry.model import Backend
from voice_runtime import runtime, shutdown
from voice_runtime.adapters.tools import BUILTIN_TOOLS
from voice_runtime.metrics import QUEUE_LIMIT
from voice_runtime.server import VoiceServer, create_server
from voice_runtime.settings import RuntimeSettings

# Exit status when the stop bound passed with something still hanging and the process was ended by force.
FORCED_EXIT = 1

runtime_app = typer.Typer(help="The bundled voice runtime: WebSocket relay with per-turn variant resolution.",
                          no_args_is_help=True)


@runtime_app.command()
def serve(
    port: Annotated[int, typer.Option("--port", help="TCP port (0 = any free port).")] = 8765,
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    registry_source: Annotated[str, typer.Option(
        "--registry-source",
        help="'ssm' (read `<namespace>` from SSM every cache period) or a registry YAML file (static, local).",
    )] = "ssm",
    phase: Annotated[str | None, typer.Option("--phase", help="Active phase for a YAML source.")] = None,
    namespace: Annotated[str, typer.Option("--namespace", help="SSM namespace to read.")] = "/silentinfinity/voice",
    fallback_baseline: Annotated[str, typer.Option(
        "--fallback-baseline", help="Variant served while no registry was ever read.")] = "transcribe-polly-baseline",
    emulate: Annotated[list[Backend] | None, typer.Option(
        "--emulate", help="Serve this backend with the in-process emulated backend (repeatable; needs the "
        "[local] extra). GET /admin/emulated?backend=...&p50_ms=... then turns its latency.")] = None,
    latency_p50_ms: Annotated[float, typer.Option("--latency-p50-ms", help="Emulated first-audio p50.")] = 150,
    latency_p95_ms: Annotated[float, typer.Option("--latency-p95-ms", help="Emulated first-audio p95.")] = 300,
    failure_rate: Annotated[float, typer.Option("--failure-rate", help="Emulated failure rate 0..1.")] = 0.0,
    internal_token: Annotated[str | None, typer.Option(
        "--internal-token", envvar="VOICE_INTERNAL_TOKEN", help="Token granting internal sessions.")] = None,
    metrics: Annotated[list[str] | None, typer.Option(
        "--metrics", help="emf (stdout), cloudwatch (PutMetricData), none; repeatable. Default: emf.")] = None,
    metrics_queue: Annotated[int, typer.Option(
        "--metrics-queue", min=1, help="Documents a metrics sink holds while its writer is stuck (stdout not "
        "read, CloudWatch hanging); more are dropped and counted in /healthz.")] = QUEUE_LIMIT,
    backend_endpoint_url: Annotated[str | None, typer.Option(
        "--backend-endpoint-url", help="Where the AWS voice backends are (the local emulators' URL).")] = None,
    nova_tool: Annotated[list[str] | None, typer.Option(
        "--nova-tool", help="A built-in tool offered to Nova Sonic (repeatable): getDateAndTimeTool.")] = None,
    web_dir: Annotated[Path | None, typer.Option("--web-dir", help="Static files served at GET /.")] = None,
    drain_seconds: Annotated[float, typer.Option(
        "--drain-seconds", min=0, help="On SIGTERM: how long turns in flight may finish before every session is "
        "closed with 1012 (reconnect); a second signal skips it.")] = RuntimeSettings.model_fields[
            "drain_seconds"].default,
    shutdown_seconds: Annotated[float, typer.Option(
        "--shutdown-seconds", min=0.1, help="After the drain: the bound on closing backends and flushing "
        "metrics; the process exits then whatever still hangs.")] = RuntimeSettings.model_fields[
            "shutdown_seconds"].default,
    max_session_seconds: Annotated[float | None, typer.Option(
        "--max-session-seconds", min=1, help="Close a session with 1012 (reconnect) at its first turn boundary "
        "after this age (the ECS relay sets it to fit the load balancer's deregistration delay).")] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="DEBUG, INFO (one line per turn), WARNING.")] = "INFO",
    endpoint_url: EndpointUrl = None,
    region: Region = None,
    profile: Profile = None,
) -> None:
    """Run the WebSocket voice runtime until Ctrl-C (protocol: docs/protocol.md)."""
    out = Output()
    # Logs go to stderr; stdout carries the EMF metric lines.
    logging.basicConfig(level=log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("websockets").setLevel(logging.WARNING)
    unknown = sorted(set(nova_tool or ()) - set(BUILTIN_TOOLS))
    if unknown:
        raise CommandError(f"--nova-tool {', '.join(unknown)}: no such built-in tool",
                         next_step=f"built in: {', '.join(BUILTIN_TOOLS)}; other tools are passed in code "
                              "(docs/backends.md, tool use)")
    # The runtime's own AWS calls are bounded by the SSM timeout (not botocore's minutes): a hung endpoint can
    # then hold a fetch thread for seconds only (docs/reliability.md).
    clients = clients_from(endpoint_url, region, profile, config=runtime.aws_config(RuntimeSettings()))
    if registry_source == "ssm":
        fetch = runtime.ssm_source(clients.ssm, namespace)
        baseline = fallback_baseline
    else:
        path = Path(registry_source)
        if not path.is_file():
            raise CommandError(f"--registry-source {registry_source!r} is neither 'ssm' nor a file",
                             next_step="pass ssm or a registry YAML such as examples/voice-m2.yaml")
        compiled, fetch = runtime.file_source(path, phase)
        namespace, baseline = compiled.namespace, compiled.baseline
    settings = RuntimeSettings(
        host=host, port=port, namespace=namespace, fallback_baseline=baseline, internal_token=internal_token,
        aws_endpoint_url=endpoint_url,
        aws_region=region, backend_endpoint_url=backend_endpoint_url, web_dir=web_dir,
        backends={"nova_tools": list(nova_tool)} if nova_tool else {},
        drain_seconds=drain_seconds, shutdown_seconds=shutdown_seconds, max_session_seconds=max_session_seconds,
    )
    sink = runtime.metrics_sink(metrics or ["emf"], cloudwatch=lambda: clients.cloudwatch, queue_limit=metrics_queue)
    registry = runtime.registry_client(fetch, namespace=namespace, fallback_baseline=baseline,
                                       timeout=settings.ssm_timeout_seconds,
                                       default_ttl=settings.default_cache_ttl_seconds)
    server = create_server(settings, registry, sink)
    if emulate:
        _emulate(server, emulate, latency_p50_ms, latency_p95_ms, failure_rate)

    def ready(s: VoiceServer) -> None:
        status = s.registry.status()
        out.hint(f"voice runtime listening on ws://{host}:{s.port}/ws (health: http://{host}:{s.port}/healthz); "
                 f"registry {status.digest or 'none'} phase {status.phase or '-'}"
                 + (f"; last error: {status.last_error}" if status.last_error else ""))

    try:
        asyncio.run(shutdown.serve_until_stopped(server, ready, watchdog=shutdown.ExitWatchdog(FORCED_EXIT)))
    except OSError as exc:
        raise CommandError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                         next_step="choose another --port (0 picks a free one)") from exc


def _emulate(server: VoiceServer, backends: list[Backend], p50_ms: float, p95_ms: float, failure_rate: float) -> None:
    """Serve `backends` with the in-process emulated backend of the test world (the [local] extra)."""
    try:
        from emulators.inprocess import EmulatedBackendSettings, emulated_factories, latency_knob
    except ImportError as exc:
        raise CommandError("--emulate needs the emulators, which are not installed",
                         next_step="pip install 'voice-rollout[local]'") from exc
    behaviour = EmulatedBackendSettings(latency_p50_ms=p50_ms, latency_p95_ms=p95_ms, failure_rate=failure_rate)
    for backend, factory in emulated_factories(default=behaviour, backends=backends).items():
        server.adapters.register(backend, factory)
    server.routes["/admin/emulated"] = latency_knob(server.adapters.get)


@runtime_app.command()
def status(
    url: Annotated[str, typer.Option("--url", help="The runtime's base HTTP URL.")] = "http://127.0.0.1:8765",
    json_output: JsonFlag = False,
) -> None:
    """Ask a running runtime how fresh its registry copy is (GET /healthz)."""
    out = Output(json_mode=json_output)
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/healthz", timeout=5) as response:
            health = json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise CommandError(f"no runtime answering at {url}: {exc}",
                           next_step="start one: voicectl runtime serve") from exc
    if json_output:
        out.data(health)
        return
    reg = health["registry"]
    age = "never fetched" if reg["age_s"] is None else f"{reg['age_s']:.1f}s old (ttl {reg['ttl_s']:g}s)"
    out.show(f"sessions: {health['sessions']}  registry: {reg['digest'] or 'none'}  phase: {reg['phase'] or '-'}  "
             f"copy: {age}{'  STALE' if reg['stale'] else ''}")
    if reg["last_error"]:
        out.warning(f"last SSM error: {reg['last_error']}")


def register(app: typer.Typer) -> None:
    """Attach `voicectl runtime ...` to the voicectl app."""
    app.add_typer(runtime_app, name="runtime")
