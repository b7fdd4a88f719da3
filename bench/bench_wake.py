"""What one round trip between two processes costs on this machine, before any relay does any work.

A relayed voice turn crosses processes four times: caller -> runtime (WebSocket), runtime -> model, model -> runtime,
runtime -> caller; and the model's ~150 ms of thinking in the middle leaves every core idle. So the floor under
`bench_relay`'s overhead is two round trips between processes on different cores, taken after an idle pause.

This echoes a 1,920-byte message (40 ms of 24 kHz audio) between a server pinned to the first CPU and a client pinned
to the second, over a bare asyncio TCP socket and over `websockets` (the runtime's WebSocket library), both "warm"
(back to back) and "after idle" (a 150 ms pause before each, as in a turn). PRINTS the p50/p95 round trip of each.

    .venv/bin/python bench/bench_wake.py
    .venv/bin/python bench/bench_wake.py --idle-ms 150 --rounds 200
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

MESSAGE = b"\x01" * 1920


def pin(cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


async def tcp_echo_server(ready: Any) -> None:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            writer.write(data)

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    ready.put(server.sockets[0].getsockname()[1])
    await server.serve_forever()


async def ws_echo_server(ready: Any) -> None:
    async def echo(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    async with serve(echo, "127.0.0.1", 0) as server:
        ready.put(next(iter(server.sockets)).getsockname()[1])
        await asyncio.Future()


def server_process(kind: str, cpu: int | None, ready: Any) -> None:
    pin(cpu)
    asyncio.run(tcp_echo_server(ready) if kind == "tcp" else ws_echo_server(ready))


async def measure(round_trip: Callable[[], Awaitable[None]], rounds: int, idle_s: float) -> list[float]:
    """Round-trip times in ms, the first tenth dropped as warm-up."""
    times = []
    for _ in range(rounds):
        if idle_s:
            await asyncio.sleep(idle_s)
        start = time.perf_counter()
        await round_trip()
        times.append((time.perf_counter() - start) * 1000)
    return times[rounds // 10:]


async def client(kind: str, port: int, rounds: int, idle_s: float) -> list[float]:
    if kind == "tcp":
        reader, writer = await asyncio.open_connection("127.0.0.1", port)

        async def tcp_round_trip() -> None:
            writer.write(MESSAGE)
            await reader.readexactly(len(MESSAGE))

        try:
            return await measure(tcp_round_trip, rounds, idle_s)
        finally:
            writer.close()
    async with connect(f"ws://127.0.0.1:{port}", compression=None) as ws:
        async def ws_round_trip() -> None:
            await ws.send(MESSAGE)
            await ws.recv()

        return await measure(ws_round_trip, rounds, idle_s)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--idle-ms", type=float, default=150.0, help="pause before each round trip when idle")
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu, client_cpu = (cpus[0], cpus[1]) if len(cpus) > 1 else (None, None)
    print(f"server on CPU {server_cpu}, client on CPU {client_cpu}; message {len(MESSAGE)} bytes")
    ctx = multiprocessing.get_context("spawn")
    for kind, label in (("tcp", "asyncio TCP"), ("ws", "websockets")):
        ready = ctx.Queue()
        server = ctx.Process(target=server_process, args=(kind, server_cpu, ready), daemon=True)
        server.start()
        port = ready.get(timeout=30)
        pin(client_cpu)
        try:
            for state, idle_s in (("warm", 0.0), (f"after {args.idle_ms:g} ms idle", args.idle_ms / 1000)):
                times = sorted(asyncio.run(client(kind, port, args.rounds, idle_s)))
                p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
                print(f"  {label:<12} {state:<20} round trip p50 {statistics.median(times):.3f} ms"
                      f"  p95 {p95:.3f} ms")
        finally:
            os.sched_setaffinity(0, set(cpus))
            server.terminate()
            server.join()


if __name__ == "__main__":
    main()
