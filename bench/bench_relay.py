"""Relay benchmark: N concurrent sessions x M turns per variant through the runtime's WebSocket server, with the
real Nova Sonic / M1 / CSM adapters talking to the backend emulators (the memo's Phase 2 load test).

Three processes, so no one's CPU hides in another's figures: the emulators (`python -m emulators.server`,
HTTP/2 over TLS), the runtime (this process: VoiceServer + adapters + SDKs), and the synthetic callers (a child
process running embedded.loadtest). PRINTS, per variant: client-measured TTFA p50/p95/p99 and the relay
overhead, i.e. client TTFA minus the emulators' own latency for the turn (exact with fixed latencies, the default:
Nova = --nova-ms; M1 = transcribe + converse + polly; CSM = transcribe + converse + sagemaker), and the runtime-only
part (client TTFA minus the server-measured backend latency). Target from the issue: overhead < 2 ms p50, < 10 ms
p95 on this 2-core machine.

    .venv/bin/python bench/bench_relay.py                      # 100 sessions x 50 turns, every variant
    .venv/bin/python bench/bench_relay.py --sessions 10 --turns 5 --variants sonic-unified
    .venv/bin/python bench/bench_relay.py --sigma 0.3          # realistic latency tails (overhead: runtime part only)
    .venv/bin/python bench/bench_relay.py --backend bare-tcp   # the floor: no SDK, TLS or HTTP/2 (bare_backend.py)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from embedded.loadtest import LoadTestConfig, distribution, run_loadtest, summarize  # noqa: E402
from registry.compiled import CompiledRegistry, compile_registry  # noqa: E402
from registry.live_state import PhaseRecord, param_phase, param_registry  # noqa: E402
from registry.loader import load_registry  # noqa: E402
from registry.model import Backend  # noqa: E402
from voice_runtime.adapters.csm_sagemaker import CsmSageMakerAdapter  # noqa: E402
from voice_runtime.adapters.echo import EchoAdapter  # noqa: E402
from voice_runtime.adapters.m1_pipeline import M1PipelineAdapter  # noqa: E402
from voice_runtime.adapters.nova_sonic import NovaSonicAdapter  # noqa: E402
from voice_runtime.adapters.table import AdapterTable  # noqa: E402
from voice_runtime.metrics import InMemorySink  # noqa: E402
from voice_runtime.registry_client import RegistryClient  # noqa: E402
from voice_runtime.server import VoiceServer  # noqa: E402
from voice_runtime.settings import RuntimeSettings  # noqa: E402

NS = "/silentinfinity/voice"
# variant -> (phase that routes its subjects there, internal subjects?)
ROUTES = {
    "sonic-unified": ("Phase2_Week2", True),
    "transcribe-polly-baseline": ("Phase1_Week1", False),
    "sesame-csm1b": ("PathB_CSM_Internal", True),
}


def emulator_latency_ms(variant: str, args: argparse.Namespace) -> float:
    """The emulators' own contribution to one turn's TTFA (exact when --sigma is 0)."""
    if variant == "sonic-unified":
        return float(args.nova_ms)
    tts = args.polly_ms if variant == "transcribe-polly-baseline" else args.sagemaker_ms
    return float(args.transcribe_ms + args.converse_ms + tts)


def cpu_layout(args: argparse.Namespace) -> tuple[set[int], set[int]] | None:
    """(runtime's CPUs, everyone else's) when --pin and there are at least two CPUs to split; else None.

    In production the relay's task has its cores to itself: the callers and the model are other machines. Sharing
    two cores three ways here made the relay wait for the OS scheduler, not for its own work (measured at 100 Nova
    Sonic sessions: overhead p50 26 ms shared, 8 ms pinned), so by default the runtime gets the first CPU and the
    emulators and callers the rest. --no-pin measures the shared case.
    """
    if not args.pin or not hasattr(os, "sched_getaffinity"):
        return None
    if "cpus" not in vars(args):  # read once: after pinning, this process sees only its own CPU
        args.cpus = sorted(os.sched_getaffinity(0))
    if len(args.cpus) < 2:
        return None
    return {args.cpus[0]}, set(args.cpus[1:])


def pin(cpus: set[int] | None) -> None:
    """Restrict this thread, and the threads it starts from now on, to `cpus` (None: leave as is)."""
    if cpus:
        os.sched_setaffinity(0, cpus)


def start_emulators(args: argparse.Namespace, program: list[str] | None = None
                    ) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """The emulators' process (`program`, default `-m emulators.server`, given the latency options),
    on the non-runtime CPUs when pinned; returns it and its {"url", "cert_file"} line."""
    layout = cpu_layout(args)
    others = layout[1] if layout else None
    cmd = [sys.executable, *(program or ["-m", "emulators.server"]), "--sigma", str(args.sigma),
           "--nova-ms", str(args.nova_ms), "--transcribe-ms", str(args.transcribe_ms),
           "--converse-ms", str(args.converse_ms), "--polly-ms", str(args.polly_ms),
           "--sagemaker-ms", str(args.sagemaker_ms), "--reply-ms", str(args.reply_ms)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, preexec_fn=lambda: pin(others))
    assert proc.stdout is not None
    info = json.loads(proc.stdout.readline())
    return proc, info


def emulator_stats(emu: dict[str, str]) -> dict[str, Any]:
    """The emulators' own counters (GET /_emulator/stats over their TLS endpoint)."""
    import ssl
    import urllib.request

    context = ssl.create_default_context(cafile=emu["cert_file"])
    with urllib.request.urlopen(emu["url"] + "/_emulator/stats", context=context, timeout=10) as response:
        stats: dict[str, Any] = json.loads(response.read())
    return stats


def signed_percentiles(values: list[float]) -> dict[str, float] | None:
    """p50/p95/min/max of values that may be negative (the HDR histogram clamps those to 0)."""
    if not values:
        return None
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"p50_ms": at(0.50), "p95_ms": at(0.95), "min_ms": ordered[0], "max_ms": ordered[-1]}


TARGET_P50_MS, TARGET_P95_MS = 2.0, 10.0  # the target for the relay's own added latency


def verdict(overhead: dict[str, Any]) -> str:
    """`met` / `missed` for each half of the target (p50, p95), from the overhead distribution."""
    p50, p95 = overhead.get("p50_ms"), overhead.get("p95_ms")
    if p50 is None or p95 is None:
        return "no turns to judge"

    def judge(value: float, limit: float) -> str:
        return f"{'met' if value < limit else 'MISSED'} ({value:g} ms vs < {limit:g})"

    return f"p50 {judge(p50, TARGET_P50_MS)}, p95 {judge(p95, TARGET_P95_MS)}"


SERVICE_OF = {"sonic-unified": "nova", "transcribe-polly-baseline": "polly", "sesame-csm1b": "sagemaker"}


def client_process(config: LoadTestConfig, server_pid: int, out: Any, cpus: set[int] | None = None) -> None:
    """Child process: the synthetic callers (on `cpus` when pinned)."""
    pin(cpus)
    report, results = asyncio.run(run_loadtest(config, server_pid=server_pid))
    out.send(([r.as_dict() for r in results], [(c.name, c.seconds, c.wall_s) for c in report.cpu], report.wall_s))


async def run_variant(variant: str, compiled: CompiledRegistry, args: argparse.Namespace,
                      emu: dict[str, str], emu_pid: int) -> dict[str, Any]:
    from embedded.conversation import TurnResult
    from embedded.loadtest import CpuUsage, process_cpu_seconds

    phase, internal = ROUTES[variant]
    values = {param_registry(NS): compiled.to_json(),
              param_phase(NS): PhaseRecord(phase=phase, at="2026-05-01T00:00:00Z", actor="bench").model_dump_json()}
    settings = RuntimeSettings(port=0, max_turn_seconds=60)
    if args.backend == "bare-tcp":
        from bare_backend import BareAdapter

        factories: dict[Backend, Any] = {Backend.NOVA_SONIC: lambda _: BareAdapter(emu["url"])}
    else:
        backend = SimpleNamespace(backend_endpoint_url=emu["url"], emulator_ca_file=emu["cert_file"],
                                  region="us-east-1", turn_timeout_seconds=20.0, blocking_workers=128,
                                  crt_connections=args.crt_connections, crt_nodelay=args.nodelay,
                                  nova_plain_input=args.plain_input,
                                  **({"nova_end_pause_ms": args.end_pause_ms} if args.end_pause_ms else {}))
        factories = {
            Backend.ECHO: EchoAdapter,
            Backend.NOVA_SONIC: lambda _: NovaSonicAdapter(backend),
            Backend.M1_PIPELINE: lambda _: M1PipelineAdapter(backend),
            Backend.CSM_SAGEMAKER: lambda _: CsmSageMakerAdapter(backend),
        }
    table = AdapterTable(settings, factories=factories)
    server = VoiceServer(settings, registry=RegistryClient(lambda: values, namespace=NS,
                                                           fallback_baseline=compiled.baseline),
                         adapters=table, metrics=InMemorySink())
    await server.start()
    config = LoadTestConfig(url=f"ws://127.0.0.1:{server.port}/ws", sessions=args.sessions, turns=args.turns,
                            internal_share=1.0 if internal else 0.0, subject_prefix=f"bench-{variant}",
                            think_s=args.think_s, ramp_s=args.ramp_s)
    ctx = multiprocessing.get_context("spawn")
    receiver, sender = ctx.Pipe(duplex=False)
    layout = cpu_layout(args)
    child = ctx.Process(target=client_process, args=(config, os.getpid(), sender, layout[1] if layout else None))
    bare = args.backend == "bare-tcp"  # the bare model has no stats endpoint: its timer is the emulators' own
    lateness_from = 0 if bare else len(emulator_stats(emu)[SERVICE_OF[variant]]["lateness_ms"])
    cpu_emu0, cpu_rt0, t0 = process_cpu_seconds(emu_pid), process_cpu_seconds(), time.perf_counter()
    child.start()
    loop = asyncio.get_running_loop()
    rows, client_cpu, wall = await loop.run_in_executor(None, receiver.recv)
    await loop.run_in_executor(None, child.join)
    elapsed = time.perf_counter() - t0
    cpu = [CpuUsage(name, s, w) for name, s, w in client_cpu if name == "loadtest client"]
    cpu += [CpuUsage("runtime + adapters", process_cpu_seconds() - cpu_rt0, elapsed),
            CpuUsage("emulators", process_cpu_seconds(emu_pid) - cpu_emu0, elapsed)]
    await server.stop()
    await table.aclose()
    lateness = [] if bare else emulator_stats(emu)[SERVICE_OF[variant]]["lateness_ms"][lateness_from:]
    results = [TurnResult(**row) for row in rows]
    report = summarize(results, config={"variant": variant, **config.__dict__}, wall_s=wall, cpu=cpu).as_dict()
    own = emulator_latency_ms(variant, args)
    ok = [r for r in results if r.ok and r.variant == variant and r.client_ttfa_ms is not None]
    report["backend"] = args.backend
    report["cpu_layout"] = ({"runtime": sorted(layout[0]), "emulators_and_callers": sorted(layout[1])}
                            if layout else None)
    report["emulator_latency_ms"] = own if args.sigma == 0 else None
    # How late the emulator itself answered past its sampled latency (its event loop's own delay): part of what
    # "overhead" below charges to the relay, shown so a reader can tell the two apart.
    report["emulator_lateness"] = signed_percentiles(lateness)
    report["full_path_overhead"] = (distribution(r.client_ttfa_ms - own for r in ok).as_dict()  # type: ignore[operator]
                                    if args.sigma == 0 else None)
    report["adapter_overhead"] = (distribution(r.model_latency_ms - own for r in ok if r.model_latency_ms is not None
                                               ).as_dict() if args.sigma == 0 else None)
    return report


def show(report: dict[str, Any], variant: str) -> None:
    v = report["per_variant"].get(variant, {})
    ttfa, relay = v.get("client_ttfa", {}), v.get("relay_overhead", {})
    full, adapter = report.get("full_path_overhead") or {}, report.get("adapter_overhead") or {}
    cpu = ", ".join(f"{c['process']} {c['cores']:.2f} cores" for c in report["cpu"])
    print(f"\n== {variant}: {report['sessions']} sessions, {report['turns']} turns, errors {report['errors']} "
          f"({report['error_rate']:.2%}), other variants/retries: {report['error_codes'] or '-'}, "
          f"wall {report['wall_s']:.1f} s, {report['throughput_turns_per_s']} turns/s")
    print(f"   client TTFA ms          p50 {ttfa.get('p50_ms')}  p95 {ttfa.get('p95_ms')}  p99 {ttfa.get('p99_ms')}"
          f"  max {ttfa.get('max_ms')}")
    if report.get("emulator_latency_ms") is not None:
        late = report.get("emulator_lateness")
        print(f"   emulators' own latency  {report['emulator_latency_ms']:.1f} ms (fixed); "
              + (f"answered late by p50 {late['p50_ms']}  p95 {late['p95_ms']}  min {late['min_ms']} ms "
                 "(its event loop; counted below)" if late else "lateness not recorded by this backend"))
        print(f"   relay overhead (client TTFA - emulator latency) ms  p50 {full.get('p50_ms')}  "
              f"p95 {full.get('p95_ms')}  p99 {full.get('p99_ms')}")
        print(f"   target: {verdict(full)}")
        print(f"     of which adapter+SDK+transport (server backend latency - emulator) ms  p50 {adapter.get('p50_ms')}"
              f"  p95 {adapter.get('p95_ms')}  p99 {adapter.get('p99_ms')}")
    print(f"     of which runtime WebSocket relay (client TTFA - server backend latency) ms  p50 {relay.get('p50_ms')}"
          f"  p95 {relay.get('p95_ms')}  p99 {relay.get('p99_ms')}")
    print(f"   CPU: {cpu}")


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    layout = cpu_layout(args)
    pin(layout[0] if layout else None)  # before the CRT thread and executor threads exist: they inherit it
    print("CPU layout: " + (f"runtime on CPU {sorted(layout[0])}, emulators and callers on CPU {sorted(layout[1])}"
                            if layout else "all three processes share every CPU"), flush=True)
    compiled = compile_registry(load_registry(ROOT / "examples" / "voice-m2.yaml"))
    proc, emu = start_emulators(args, [str(ROOT / "bench" / "bare_backend.py")] if args.backend == "bare-tcp" else None)
    if args.backend == "bare-tcp":
        print("backend: bare TCP, no protocol (the floor; only sonic-unified is routed to it)", flush=True)
    reports = []
    try:
        for variant in args.variants.split(","):
            report = await run_variant(variant, compiled, args, emu, proc.pid)
            show(report, variant)
            reports.append(report)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return reports


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (also used by bench/trace_nova_turn.py)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=100)
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument("--variants", help="comma-separated (default: all three; sonic-unified with bare-tcp)")
    parser.add_argument("--sigma", type=float, default=0.0, help="emulator latency log-normal shape (0 = fixed)")
    parser.add_argument("--nova-ms", type=float, default=150.0)
    parser.add_argument("--transcribe-ms", type=float, default=100.0)
    parser.add_argument("--converse-ms", type=float, default=200.0)
    parser.add_argument("--polly-ms", type=float, default=120.0)
    parser.add_argument("--sagemaker-ms", type=float, default=250.0)
    parser.add_argument("--reply-ms", type=int, default=600)
    parser.add_argument("--think-s", type=float, default=0.2)
    parser.add_argument("--ramp-s", type=float, default=2.0)
    parser.add_argument("--crt-connections", type=int, default=8,
                        help="HTTP/2 connections per SDK client kind (all on one CRT event-loop thread)")
    parser.add_argument("--pin", action=argparse.BooleanOptionalAction, default=True,
                        help="give the runtime the first CPU and the emulators and callers the others (default), "
                             "as in production where they are other machines; --no-pin shares every CPU")
    parser.add_argument("--backend", choices=("sdk", "bare-tcp"), default="sdk",
                        help="sdk: the real adapters and SDKs against the emulators (default); bare-tcp: "
                             "sonic-unified's turns go over a plain TCP socket to a model with the same latency "
                             "and no protocol (bench/bare_backend.py), the floor under the relay overhead")
    parser.add_argument("--nodelay", action=argparse.BooleanOptionalAction, default=True,
                        help="TCP_NODELAY on the CRT's sockets (a hook on a private SDK name; off to measure it)")
    parser.add_argument("--plain-input", action=argparse.BooleanOptionalAction, default=True,
                        help="Nova Sonic input chunks serialized directly (the hook on the SDK publisher's "
                             "private _serializer; off to measure it)")
    parser.add_argument("--end-pause-ms", type=int, help="Nova Sonic: the silence sent at the end of a user turn "
                        "(default: the adapter's nova_end_pause_ms)")
    parser.add_argument("--json", type=Path, help="also write the full reports here")
    return parser.parse_args(argv)


def main() -> None:
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    args = parse_args()
    if args.backend == "bare-tcp" and args.variants not in (None, "sonic-unified"):
        sys.exit("--backend bare-tcp replaces only sonic-unified's backend: use --variants sonic-unified")
    args.variants = args.variants or ("sonic-unified" if args.backend == "bare-tcp" else ",".join(ROUTES))
    reports = asyncio.run(main_async(args))
    if args.json:
        args.json.write_text(json.dumps(reports, indent=2))


if __name__ == "__main__":
    main()
