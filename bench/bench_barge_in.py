"""Benchmark: barge-in stop time and the runtime's own TTFA overhead, over real loopback WebSocket connections.

  * barge-in: a 5 s emulated reply paced at speaking speed in 20 ms chunks; once the first audio frame arrives the
    client sends barge_in. Prints the server-side stop time (barge_in received -> last audio frame of the turn
    sent, from turn_end.barge_in.stop_ms), the client-side time from sending barge_in to receiving turn_end, and
    how much audio still arrived after barge_in was sent.
  * TTFA overhead: internal subjects on Phase1_Week1 are served by ws-echo (no model at all), so their TTFA is the
    runtime's own cost from the last user frame to the first output frame.

    .venv/bin/python bench/bench_barge_in.py [--turns N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from websockets.asyncio.client import connect  # noqa: E402

from emulators.inprocess import EmulatedBackendSettings, emulated_factories  # noqa: E402
from registry.compiled import compile_registry  # noqa: E402
from registry.live_state import PhaseRecord, param_phase, param_registry  # noqa: E402
from registry.loader import load_registry  # noqa: E402
from registry.model import Backend  # noqa: E402
from voice_runtime.metrics import InMemorySink  # noqa: E402
from voice_runtime.registry_client import RegistryClient  # noqa: E402
from voice_runtime.server import create_server  # noqa: E402
from voice_runtime.settings import RuntimeSettings  # noqa: E402

FRAME = bytes(640)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def scenario(turns: int, reply: EmulatedBackendSettings) -> list[tuple[str, list[float]]]:
    compiled = compile_registry(load_registry(ROOT / "examples" / "voice-m2.yaml"))
    values = {param_registry(compiled.namespace): compiled.to_json(),
              param_phase(compiled.namespace): PhaseRecord(phase="Phase1_Week1", at="2026-05-01T00:00:00Z")
              .model_dump_json()}
    settings = RuntimeSettings(port=0)
    registry = RegistryClient(lambda: values, namespace=compiled.namespace, fallback_baseline=compiled.baseline)
    server = create_server(settings, registry, InMemorySink(),
                           factories=emulated_factories(default=reply, backends=[Backend.M1_PIPELINE]))
    await server.start()
    uri = f"ws://127.0.0.1:{server.port}/ws"
    stop_ms, client_ms, after_ms, echo_ttfa = [], [], [], []
    try:
        async with connect(uri) as ws:
            await ws.send(json.dumps({"type": "start", "subject": "bench-user"}))
            await ws.recv()
            for _ in range(turns):
                for _ in range(5):
                    await ws.send(FRAME)
                await ws.send(json.dumps({"type": "end_turn"}))
                while not isinstance(await ws.recv(), bytes):
                    pass
                sent_at = time.perf_counter()
                await ws.send(json.dumps({"type": "barge_in"}))
                late = 0
                while True:
                    message = await ws.recv()
                    if isinstance(message, bytes):
                        late += len(message)
                        continue
                    data = json.loads(message)
                    if data["type"] == "turn_end":
                        client_ms.append((time.perf_counter() - sent_at) * 1000)
                        stop_ms.append(data["barge_in"]["stop_ms"])
                        after_ms.append(late / 48)
                        break
        async with connect(uri) as ws:
            await ws.send(json.dumps({"type": "start", "subject": "bench-dev", "internal": True}))
            await ws.recv()
            for _ in range(turns):
                for _ in range(5):
                    await ws.send(FRAME)
                await ws.send(json.dumps({"type": "end_turn"}))
                while True:
                    message = await ws.recv()
                    if isinstance(message, str) and json.loads(message)["type"] == "turn_end":
                        echo_ttfa.append(json.loads(message)["timings"]["ttfa_ms"])
                        break
    finally:
        await server.stop()
    return [
        ("barge-in stop time, server side (ms)", stop_ms),
        ("barge_in sent -> turn_end received, client side (ms)", client_ms),
        ("audio received after sending barge_in (ms of audio)", after_ms),
        ("ws-echo TTFA = runtime overhead (ms)", echo_ttfa),
    ]


async def _clients(port: int, sessions: int, turns: int) -> tuple[list[float], int]:
    ttfa: list[float] = []
    failures = 0

    async def client(i: int) -> None:
        nonlocal failures
        async with connect(f"ws://127.0.0.1:{port}/ws") as ws:
            await ws.send(json.dumps({"type": "start", "subject": f"dev-{i}", "internal": True}))
            await ws.recv()
            for _ in range(turns):
                for frame in range(10):
                    if frame:
                        await asyncio.sleep(0.02)  # speaking speed; end_turn follows the last frame at once
                    await ws.send(FRAME)
                await ws.send(json.dumps({"type": "end_turn"}))
                while True:
                    message = await ws.recv()
                    if isinstance(message, str) and json.loads(message)["type"] == "turn_end":
                        end = json.loads(message)
                        if end["reason"] != "end_turn":
                            failures += 1
                        ttfa.append(end["timings"]["ttfa_ms"])
                        break

    await asyncio.gather(*(client(i) for i in range(sessions)))
    return ttfa, failures


def _client_process(port: int, sessions: int, turns: int, results: Any) -> None:
    results.put(asyncio.run(_clients(port, sessions, turns)))


async def concurrent(sessions: int, turns: int) -> tuple[list[float], int, float, float, list[float]]:
    """`sessions` internal clients at once (in another process, so they do not share the server's event loop),
    `turns` ws-echo turns each: the server-side TTFA (the runtime's overhead) and failed turns."""
    compiled = compile_registry(load_registry(ROOT / "examples" / "voice-m2.yaml"))
    values = {param_registry(compiled.namespace): compiled.to_json(),
              param_phase(compiled.namespace): PhaseRecord(phase="Phase1_Week1", at="2026-05-01T00:00:00Z")
              .model_dump_json()}
    registry = RegistryClient(lambda: values, namespace=compiled.namespace, fallback_baseline=compiled.baseline)
    server = create_server(RuntimeSettings(port=0), registry, InMemorySink())
    await server.start()
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    process = ctx.Process(target=_client_process, args=(server.port, sessions, turns, results))
    lags: list[float] = []

    async def lag_monitor() -> None:
        # How late a 10 ms timer fires on the server's loop: CPU-bound work and OS descheduling both show here.
        while True:
            t0 = time.perf_counter()
            await asyncio.sleep(0.01)
            lags.append((time.perf_counter() - t0 - 0.01) * 1000)

    monitor = asyncio.get_running_loop().create_task(lag_monitor())
    started = time.perf_counter()
    cpu = time.process_time()
    process.start()
    try:
        ttfa, failures = await asyncio.to_thread(results.get, True, 600)
        await asyncio.to_thread(process.join, 30)
    finally:
        monitor.cancel()
        await server.stop()
    return ttfa, failures, time.perf_counter() - started, time.process_time() - cpu, lags


async def main(turns: int, sessions: int) -> None:
    print(f"{turns} barge-ins and {turns} echo turns per scenario over loopback WebSocket, "
          f"Python {sys.version.split()[0]}")
    scenarios = {
        "paced reply (5 s at speaking speed, 20 ms chunks)":
            EmulatedBackendSettings(latency="fixed", latency_p50_ms=20, reply_seconds=5, chunk_ms=20),
        "burst reply (5 s produced at once: the send queue is full when barge_in arrives)":
            EmulatedBackendSettings(latency="fixed", latency_p50_ms=20, reply_seconds=5, chunk_ms=100,
                                    realtime=False),
    }
    for title, reply in scenarios.items():
        print(f"\n{title}")
        print(f"{'measure':58} {'median':>8} {'p95':>8} {'p99':>8} {'max':>8}")
        for name, values_ in await scenario(turns, reply):
            print(f"{name:58} {statistics.median(values_):8.3f} {pct(values_, 0.95):8.3f} "
                  f"{pct(values_, 0.99):8.3f} {max(values_):8.3f}")
    ttfa, failures, seconds, cpu, lags = await concurrent(sessions, 10)
    print(f"\n{sessions} concurrent sessions x 10 ws-echo turns (200 ms utterances at speaking speed), "
          f"{seconds:.1f} s wall, server process CPU {cpu:.1f} s, load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs, {failures} failed turns")
    print(f"{'ws-echo TTFA under concurrency = runtime overhead (ms)':58} {statistics.median(ttfa):8.3f} "
          f"{pct(ttfa, 0.95):8.3f} {pct(ttfa, 0.99):8.3f} {max(ttfa):8.3f}")
    print(f"{'server event-loop lag of a 10 ms timer (ms)':58} {statistics.median(lags):8.3f} "
          f"{pct(lags, 0.95):8.3f} {pct(lags, 0.99):8.3f} {max(lags):8.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--sessions", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(main(args.turns, args.sessions))
