"""Benchmark: voicectl plan / apply of examples/voice-m2.yaml against moto's HTTP server, in-process.

Prints, for each operation, the median and spread over several runs, and how many AWS calls it made:
  * plan (no changes)          read live state + diff, state already in sync
  * first apply                 empty account -> 2 topics, 4 alarms, 1 parameter
  * no-op apply                 second apply: reads only, zero writes
each with "warm" clients (reused, as in a long-lived process) and "cold" ones (built per run, as one CLI
invocation does), plus the whole CLI in a subprocess (Python start-up included).

Run: .venv/bin/python bench/bench_apply.py [--runs 7]
Figures are for this machine and moto, not AWS: moto answers in ~1 ms where AWS takes tens of ms per call.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from moto.server import ThreadedMotoServer  # noqa: E402

from control_plane.apply import execute, observe, resolve_target, steps_for  # noqa: E402
from control_plane.aws.live_store import read_live_state  # noqa: E402
from control_plane.aws.session import Clients  # noqa: E402
from control_plane.compiler import compile_plan  # noqa: E402
from control_plane.diff import diff  # noqa: E402
from control_plane.impact import traffic_impact  # noqa: E402
from registry.loader import load_registry  # noqa: E402

EXAMPLE = ROOT / "examples" / "voice-m2.yaml"
READS = ("Get", "Describe", "List")


class CountingClients(Clients):
    """Clients that count the AWS operations they send (reads vs writes)."""

    reads = 0
    writes = 0

    def client(self, service: str) -> Any:
        fresh = service not in self._cache
        made = super().client(service)
        if fresh:
            made.meta.events.register("before-call.*.*", self._count)
        return made

    def _count(self, model: Any, **_: Any) -> None:
        if model.name.startswith(READS):
            type(self).reads += 1
        else:
            type(self).writes += 1


def plan_once(clients: Clients) -> int:
    registry = load_registry(EXAMPLE)
    target = resolve_target(clients)
    plan = compile_plan(registry, target)
    changes = diff(plan, observe(clients, plan, target))
    traffic_impact(read_live_state(clients.client("ssm"), plan.namespace), plan.compiled)  # as the CLI does
    return len(changes)


def apply_once(clients: Clients) -> int:
    registry = load_registry(EXAMPLE)
    target = resolve_target(clients)
    plan = compile_plan(registry, target)
    changes = diff(plan, observe(clients, plan, target))
    traffic_impact(read_live_state(clients.client("ssm"), plan.namespace), plan.compiled)
    return execute(clients, steps_for(changes, target, plan.tags)).write_calls


def measure(label: str, runs: int, setup: Callable[[], None], body: Callable[[], int]) -> None:
    times: list[float] = []
    CountingClients.reads = CountingClients.writes = 0
    for _ in range(runs):
        setup()
        CountingClients.reads = CountingClients.writes = 0
        start = time.perf_counter()
        body()
        times.append((time.perf_counter() - start) * 1000)
    print(f"{label:<38} median {statistics.median(times):8.1f} ms   min {min(times):8.1f}   max {max(times):8.1f}"
          f"   calls: {CountingClients.reads} reads, {CountingClients.writes} writes (last run)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--cli-runs", type=int, default=3)
    args = parser.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    os.environ.pop("AWS_PROFILE", None)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"

    def reset() -> None:
        urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"))

    def in_sync() -> None:
        reset()
        apply_once(Clients(endpoint_url=url, region="us-east-1"))

    warm = CountingClients(endpoint_url=url, region="us-east-1")

    def cold() -> CountingClients:
        return CountingClients(endpoint_url=url, region="us-east-1")

    print(f"voicectl plan/apply of {EXAMPLE.name} against moto {url} (median of {args.runs} runs)")
    try:
        in_sync()
        measure("plan, no changes (warm clients)", args.runs, lambda: None, lambda: plan_once(warm))
        measure("plan, no changes (cold clients)", args.runs, lambda: None, lambda: plan_once(cold()))
        measure("first apply (warm clients)", args.runs, reset, lambda: apply_once(warm))
        measure("first apply (cold clients)", args.runs, reset, lambda: apply_once(cold()))
        in_sync()
        measure("no-op apply (warm clients)", args.runs, lambda: None, lambda: apply_once(warm))
        measure("no-op apply (cold clients)", args.runs, lambda: None, lambda: apply_once(cold()))
        env = {**os.environ, "AWS_ENDPOINT_URL": url}
        for label, argv, setup in (("CLI `voicectl plan` (subprocess)", ["plan", str(EXAMPLE)], lambda: None),
                                   ("CLI `voicectl apply --yes`, first", ["apply", str(EXAMPLE), "--yes"], reset),
                                   ("CLI `voicectl apply --yes`, no-op", ["apply", str(EXAMPLE), "--yes"], None)):
            times = []
            for _ in range(args.cli_runs):
                (setup or (lambda: None))()
                start = time.perf_counter()
                subprocess.run([sys.executable, "-c", "from cli.app import main; main()", *argv], cwd=ROOT, env=env,
                               check=True, capture_output=True, stdin=subprocess.DEVNULL)
                times.append((time.perf_counter() - start) * 1000)
            print(f"{label:<38} median {statistics.median(times):8.1f} ms   min {min(times):8.1f}   "
                  f"max {max(times):8.1f}   ({args.cli_runs} runs, Python start-up included)")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
