"""Benchmark: the local alarm evaluator, backtest throughput, and the revert handler's wall time.

Prints figures, asserts nothing:
* percentile of one period's raw samples: ours (nearest rank, pure Python) vs numpy.percentile(method=
  "inverted_cdf"), the same definition, which is what a user would otherwise reach for;
* backtest of a 24 h history (one sonic-unified turn every 0.5 s, baseline turns, session errors) through the
  example registry's four alarms;
* the revert handler on moto (in-process mock_aws, and over HTTP on moto's server): ALARM -> override + SNS +
  CodeDeploy list, and a redelivered duplicate.

    .venv/bin/python bench/bench_alarms.py [--iterations N]
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")  # the handler's per-invocation logs would drown the figures
logging.getLogger("werkzeug").setLevel(logging.WARNING)

import numpy as np  # noqa: E402

from control_plane.alarms.backtest import backtest  # noqa: E402
from control_plane.alarms.evaluator import Evaluator, definitions_from_registry  # noqa: E402
from control_plane.alarms.samples import Sample  # noqa: E402
from control_plane.alarms.statistics import percentile  # noqa: E402
from registry.loader import load_registry  # noqa: E402

EXAMPLE = ROOT / "examples" / "voice-m2.yaml"
EVENT = ROOT / "tests" / "fixtures" / "alarm_events" / "lambda_action.json"


def timed(fn: Callable[[], object], iterations: int) -> list[float]:
    """Milliseconds per call, after a short warm-up."""
    for _ in range(min(5, iterations)):
        fn()
    out = []
    for _ in range(iterations):
        start = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - start) / 1e6)
    return out


def show(label: str, ms: list[float]) -> float:
    med = statistics.median(ms)
    p95 = sorted(ms)[max(0, math.ceil(0.95 * len(ms)) - 1)]
    print(f"  {label:<58} median {med:9.3f} ms   p95 {p95:9.3f} ms   (n={len(ms)})")
    return med


def bench_percentile(iterations: int) -> None:
    print("percentile of one period's samples (p95), ours vs numpy inverted_cdf (same definition):")
    rng = random.Random(1)
    for n in (100, 1_000, 10_000):
        xs = [rng.lognormvariate(5.5, 0.4) for _ in range(n)]
        assert percentile(xs, 95) == float(np.percentile(xs, 95, method="inverted_cdf"))
        ours = show(f"n={n:>6} ours", timed(lambda xs=xs: percentile(xs, 95), iterations))
        theirs = show(f"n={n:>6} numpy (list in)", timed(lambda xs=xs: np.percentile(xs, 95, method="inverted_cdf"),
                                                          iterations))
        print(f"  n={n:>6} ratio ours/numpy = {ours / theirs:.2f}")


def bench_backtest() -> None:
    registry = load_registry(EXAMPLE)
    alarms = definitions_from_registry(registry)
    rng = random.Random(2)
    start = 1_795_000_200
    samples = []
    for i in range(0, 86_400 * 2):
        at = start + i * 0.5
        slow = 30_000 <= i < 34_000
        samples.append(Sample.of("SilentInfinity/Voice", "VoiceM2_TTFA_ms", {"Variant": "sonic-unified"},
                                 rng.lognormvariate(math.log(520 if slow else 240), 0.35), at))
        if i % 4 == 0:
            samples.append(Sample.of("SilentInfinity/Voice", "VoiceM2_SessionError", {"Variant": "sonic-unified"},
                                     1.0 if rng.random() < 0.005 else 0.0, at))
    t0 = time.perf_counter()
    report = backtest(alarms, samples)
    took = time.perf_counter() - t0
    print(f"backtest: {len(samples):,} samples over 24 h, {len(alarms)} alarms, {report.ticks:,} evaluation ticks: "
          f"{took:.2f} s ({len(samples) / took:,.0f} samples/s, {report.ticks * len(alarms) / took:,.0f} alarm "
          f"evaluations/s); {len(report.fired())} firing(s)")
    # The evaluator's own cost, without ingestion: every alarm evaluated once a minute over the same 24 h.
    evaluator = Evaluator(alarms)
    evaluator.ingest(samples)
    evaluations = 0
    t0 = time.perf_counter()
    for now in range(start + 600, start + 86_400, 60):
        evaluator.tick(now)
        evaluations += len(alarms)
    took = time.perf_counter() - t0
    print(f"evaluation only: {evaluations:,} alarm evaluations in {took:.2f} s = "
          f"{took / evaluations * 1e6:.1f} µs each")


def bench_handler(iterations: int) -> None:
    import json

    import boto3
    from moto import mock_aws

    from control_plane.alarms.handler import HandlerConfig, handle
    from control_plane.aws import live_store
    from registry.compiled import compile_registry
    from registry.live_state import PhaseRecord, param_phase, param_registry

    event = json.loads(EVENT.read_text())
    ns = "/silentinfinity/voice"

    def run_against(clients: Any, label: str) -> None:
        ssm, sns, cd = clients
        compiled = compile_registry(load_registry(EXAMPLE))
        live_store.put_value(ssm, param_registry(ns), compiled.to_json())
        from datetime import UTC, datetime
        live_store.put_record(ssm, param_phase(ns), PhaseRecord(phase="Phase3_Week4", at=datetime.now(UTC)))
        sns.create_topic(Name="voice-m2-oncall")
        config = HandlerConfig(ns)

        def fresh() -> None:
            live_store.delete_parameter(ssm, f"{ns}/overrides/sonic-unified")
            result = handle(event, ssm=ssm, sns=sns, codedeploy=cd, config=config, clock=lambda: datetime.now(UTC))
            assert result["status"] in {"reverted", "partial"}, result

        def duplicate() -> None:
            result = handle(event, ssm=ssm, sns=sns, codedeploy=cd, config=config, clock=lambda: datetime.now(UTC))
            assert result["status"] == "duplicate", result

        print(f"revert handler, {label}:")
        show("ALARM -> read state, write override, SNS, CodeDeploy list", timed(fresh, iterations))
        show("redelivered duplicate (read state only)", timed(duplicate, iterations))

    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"})
    with mock_aws():
        run_against(tuple(boto3.client(s, region_name="us-east-1") for s in ("ssm", "sns", "codedeploy")),
                    "moto in-process (mock_aws)")
    from moto.server import ThreadedMotoServer

    from control_plane.aws.session import Clients
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        clients = Clients(endpoint_url=f"http://{host}:{port}", region="us-east-1")
        run_against((clients.ssm, clients.sns, clients.codedeploy), "moto server over HTTP (embedded mode)")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=50)
    args = parser.parse_args()
    bench_percentile(max(args.iterations, 20))
    bench_backtest()
    bench_handler(args.iterations)


if __name__ == "__main__":
    main()
