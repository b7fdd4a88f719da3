"""Benchmark: the rollout commands (status, advance decision, history, runbook verify) against moto's HTTP
server, in-process, plus the runtime's one-batch namespace read and the pure gate statistics.

Prints the median and p95 over several runs and how many AWS calls each command made.
Run: .venv/bin/python bench/bench_rollout.py [--runs 15]
Figures are for this machine and moto, not AWS: moto answers in ~1 ms where AWS takes tens of ms per call.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from moto.server import ThreadedMotoServer  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from cli import rollout_context  # noqa: E402
from cli.app import app  # noqa: E402
from control_plane.aws import live_store  # noqa: E402
from control_plane.aws.session import Clients  # noqa: E402
from control_plane.compiler import compile_plan  # noqa: E402
from control_plane.rollout.gates import compute_statistic  # noqa: E402
from registry.errors import GuardRefused  # noqa: E402
from registry.live_state import OverrideRecord  # noqa: E402
from registry.loader import load_registry  # noqa: E402

EXAMPLE = ROOT / "examples" / "voice-m2.yaml"
NS = "/silentinfinity/voice"
T0 = datetime(2026, 5, 1, 9, tzinfo=UTC)
CALLS: dict[str, int] = {"n": 0}


class CountingClients(Clients):
    def client(self, service: str) -> Any:
        fresh = service not in self._cache
        made = super().client(service)
        if fresh:
            made.meta.events.register("before-call.*.*", lambda **_: CALLS.__setitem__("n", CALLS["n"] + 1))
        return made


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, float, int]:
    samples, calls = [], 0
    for _ in range(runs):
        CALLS["n"] = 0
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
        calls = CALLS["n"]
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)], calls


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    ssm = boto3.client("ssm", endpoint_url=url)
    cw = boto3.client("cloudwatch", endpoint_url=url)
    plan = compile_plan(load_registry(EXAMPLE))
    for p in plan.parameters:
        ssm.put_parameter(Name=p.name, Value=p.value, Type="String", Tier=p.tier, Overwrite=True)
    for a in plan.alarms:
        cw.put_metric_alarm(**a.args)
    rollout_context.clients_from = lambda e, r, p: CountingClients(endpoint_url=e, region=r, profile=p)  # type: ignore[assignment]
    runner = CliRunner()
    env = {"AWS_ENDPOINT_URL": url, "VOICECTL_NOW": (T0 + timedelta(days=1)).isoformat(), "COLUMNS": "200"}

    def cli(*args: str) -> Callable[[], Any]:
        def run() -> Any:
            result = runner.invoke(app, list(args), env=env)
            refused = isinstance(result.exception, GuardRefused)
            if result.exit_code != 0 and not refused:
                raise SystemExit(f"{args} failed: {result.output}")
        return run

    runner.invoke(app, ["advance", str(EXAMPLE), "--force", "--reason", "bench"],
                  env={**env, "VOICECTL_NOW": T0.isoformat()})
    print(f"voicectl rollout commands on the example, in-process, against moto ({runs} runs; ms)")
    print(f"{'command':48} {'median':>8} {'p95':>8} {'AWS calls':>10}")
    for label, fn in [
        ("status FILE --json (gates judged, alarms read)", cli("status", str(EXAMPLE), "--json")),
        ("advance FILE --json (refused: bake, gates)", cli("advance", str(EXAMPLE), "--json")),
        ("history --json", cli("history", "-n", NS, "--json")),
        ("runbook verify --json", cli("runbook", "verify", "-n", NS, "--json")),
        ("runbook (text)", cli("runbook", "-n", NS)),
    ]:
        med, p95, calls = timed(fn, runs)
        print(f"{label:48} {med:8.1f} {p95:8.1f} {calls:10d}")

    print("\nruntime's one-batch read of the namespace (read_namespace + parse), warm client")
    for overrides in (0, 10, 40):
        for i in range(overrides):
            live_store.put_override(ssm, NS, OverrideRecord(variant=f"v{i:02d}", share=0, at=T0))
        med, p95, _ = timed(lambda: live_store.read_live_state(ssm, NS), runs)
        count = len(live_store.read_namespace(ssm, NS))
        print(f"  {count:3d} parameters: median {med:6.1f} ms, p95 {p95:6.1f} ms")

    rng = random.Random(7)
    for n in (1_000, 100_000):
        values = [rng.lognormvariate(5.3, 0.4) for _ in range(n)]
        med, p95, _ = timed(lambda v=values: compute_statistic(v, "p95"), runs)  # type: ignore[misc]
        print(f"pure p95 of {n:>7,} raw samples: median {med:7.2f} ms")
    server.stop()


if __name__ == "__main__":
    main()
