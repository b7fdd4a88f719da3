"""Where one Nova Sonic turn's relay overhead goes: timestamps at every hand-off, in both processes.

A diagnostic, not a benchmark of record: it runs `bench_relay`'s one-session Nova Sonic load (the real adapter and
SDK against the emulator process) with timestamps added by wrapping functions of the runtime, the SDK's CRT
transport, the emulator and hypercorn (internals of pinned versions; a version bump may need this file updated).
Both processes log `time.monotonic()`, one clock on Linux, so legs that cross processes are comparable. PRINTS, per
leg, the median and p90 over the turns:

    outbound  relay send -> CRT write starts -> emulator's server reads it -> emulator hears the end of speech
    inbound   emulator emits first audio -> its server writes it -> runtime's CRT callback -> asyncio loop has it
              -> decoded and routed -> adapter yields it to the relay

    .venv/bin/python bench/trace_nova_turn.py              # 1 session x 30 turns
    .venv/bin/python bench/trace_nova_turn.py --turns 60
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


class Log:
    """Append-only `name time` lines (line-buffered: the emulator process is killed, not shut down)."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("w", buffering=1)

    def __call__(self, name: str, t: float | None = None) -> None:
        self._file.write(f"{name} {time.monotonic() if t is None else t}\n")


def wrap_async(owner: Any, attr: str, before: Callable[..., None]) -> None:
    original = getattr(owner, attr)

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        before(*args, **kwargs)
        return await original(*args, **kwargs)

    setattr(owner, attr, wrapper)


def trace_emulator(log: Log) -> None:
    """Emulator side: end of speech heard, first audio emitted, bytes read from / written to the socket."""
    from hypercorn.asyncio import tcp_server
    from hypercorn.events import RawData
    from hypercorn.protocol import ProtocolWrapper

    from voice_runtime.emulators import nova_sonic_server as nova
    from voice_runtime.emulators.audio import voiced_windows

    def on_audio(stream: Any, pcm: bytes) -> None:
        voiced = voiced_windows(pcm, nova.VAD_WINDOW_BYTES, nova.SPEECH_LEVEL)
        if voiced and not voiced[-1] and (stream._in_speech or any(voiced)):
            log("emu_heard")

    def emit(stream: Any, name: str, body: dict[str, Any]) -> None:
        if name == "contentStart" and body.get("type") == "AUDIO":
            stream._trace_first = True
        elif name == "audioOutput" and getattr(stream, "_trace_first", False):
            stream._trace_first = False
            log("emu_audio")

    wrap_async(nova.NovaSonicStream, "_on_audio", on_audio)
    wrap_async(nova.NovaSonicStream, "emit", emit)
    wrap_async(tcp_server.TCPServer, "protocol_send",
               lambda _, event: log("emu_raw_out") if isinstance(event, RawData) else None)
    wrap_async(ProtocolWrapper, "handle", lambda _, event: log("emu_raw_in") if isinstance(event, RawData) else None)


def trace_runtime(log: Log) -> None:
    """Runtime side: the adapter's sends, the CRT writes and body callbacks, frame decoding, routing, yielding."""
    from awscrt.aio import http as crt_http

    from voice_runtime.adapters import event_frames
    from voice_runtime.adapters import nova_sonic as ns
    from voice_runtime.adapters import nova_sonic_events as ev
    from voice_runtime.adapters.base import AudioChunk

    wrap_async(ns.NovaSonicSession, "_send_audio", lambda *_: log("rt_send"))
    wrap_async(crt_http.AIOHttp2ClientStream, "_write_data", lambda *_: log("rt_write"))
    on_body = crt_http.AIOHttpClientStreamUnified._on_body

    def body(self: Any, chunk: bytes) -> None:
        log("rt_body")
        on_body(self, chunk)

    crt_http.AIOHttpClientStreamUnified._on_body = body
    feed = event_frames.FrameSplitter.feed

    def split(self: Any, data: bytes) -> Any:
        log("rt_feed")
        return feed(self, data)

    event_frames.FrameSplitter.feed = split  # type: ignore[method-assign]
    route = ns.NovaSonicSession._route

    def routed(self: Any, stream: Any, out: Any) -> None:
        if isinstance(out, ev.AudioOut):
            log("rt_route_audio")
        route(self, stream, out)

    ns.NovaSonicSession._route = routed  # type: ignore[method-assign]
    run_turn = ns.NovaSonicSession.run_turn

    async def turn(self: Any, audio: Any) -> Any:
        first = True
        async for item in run_turn(self, audio):
            if first and isinstance(item, AudioChunk):
                first = False
                log("rt_yield_audio")
            yield item

    ns.NovaSonicSession.run_turn = turn  # type: ignore[method-assign]


def read(path: Path) -> dict[str, list[float]]:
    series: dict[str, list[float]] = {}
    for line in path.read_text().splitlines():
        name, _, value = line.partition(" ")
        series.setdefault(name, []).append(float(value))
    return {name: sorted(values) for name, values in series.items()}


def last_before(values: list[float], t: float) -> float:
    return values[max(0, bisect.bisect_left(values, t) - 1)]


def first_after(values: list[float], t: float) -> float:
    return values[min(len(values) - 1, bisect.bisect_left(values, t))]


def legs(rt: dict[str, list[float]], emu: dict[str, list[float]]) -> dict[str, list[float]]:
    """Per turn, each hand-off's duration in ms, anchored on what the emulator saw."""
    out: dict[str, list[float]] = {}

    def add(name: str, seconds: float) -> None:
        out.setdefault(name, []).append(seconds * 1000)

    for heard in emu.get("emu_heard", []):
        raw_in = last_before(emu["emu_raw_in"], heard)
        write = last_before(rt["rt_write"], raw_in)
        send = last_before(rt["rt_send"], write)
        add("out: relay send -> CRT write starts (SDK body writer)", write - send)
        add("out: CRT write -> emulator's server reads it (CRT, TLS, kernel)", raw_in - write)
        add("out: emulator's server -> end of speech heard (hypercorn, h2, decode)", heard - raw_in)
    for emitted in emu.get("emu_audio", []):
        raw_out = first_after(emu["emu_raw_out"], emitted)
        body = first_after(rt["rt_body"], raw_out)
        fed = first_after(rt["rt_feed"], body)
        routed = first_after(rt["rt_route_audio"], fed)
        yielded = first_after(rt["rt_yield_audio"], routed)
        add("in: first audio emitted -> emulator's server writes it (h2)", raw_out - emitted)
        add("in: server write -> runtime's CRT callback (TLS, kernel, CRT)", body - raw_out)
        add("in: CRT callback -> asyncio loop has the bytes (thread hop)", fed - body)
        add("in: bytes -> audio event routed (frame decode, JSON, base64)", routed - fed)
        add("in: routed -> adapter yields it to the relay", yielded - routed)
    return out


def serve_emulators(argv: list[str]) -> None:
    """Child process: the emulators with tracing (`--serve-emulators LOGFILE ARGS...`)."""
    trace_emulator(Log(Path(argv[0])))
    from voice_runtime.emulators.server import main as serve

    serve(argv[1:])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-emulators":
        serve_emulators(sys.argv[2:])
        return
    import bench_relay

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--turns", type=int, default=30)
    parser.add_argument("--nova-ms", type=float, default=150.0)
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    workdir = Path(tempfile.mkdtemp(prefix="trace-nova-"))
    rt_log, emu_log = workdir / "runtime.log", workdir / "emulator.log"
    trace_runtime(Log(rt_log))

    def start_emulators(bench_args: argparse.Namespace) -> tuple[subprocess.Popen[str], dict[str, str]]:
        cmd = [sys.executable, __file__, "--serve-emulators", str(emu_log), "--nova-ms", str(bench_args.nova_ms)]
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        return proc, json.loads(proc.stdout.readline())

    bench_relay.start_emulators = start_emulators  # type: ignore[assignment]
    relay_args = bench_relay.parse_args(["--sessions", "1", "--turns", str(args.turns), "--variants", "sonic-unified",
                                         "--ramp-s", "0", "--nova-ms", str(args.nova_ms)])
    reports = asyncio.run(bench_relay.main_async(relay_args))
    report = reports[0]
    rt, emu = read(rt_log), read(emu_log)
    needed = ["emu_heard", "emu_raw_in", "emu_audio", "emu_raw_out", "rt_send", "rt_write", "rt_body", "rt_feed",
              "rt_route_audio", "rt_yield_audio"]
    missing = [name for name in needed if not (rt.get(name) or emu.get(name))]
    if missing:
        raise SystemExit(f"no {', '.join(missing)} timestamps in {workdir}: a wrapped internal has changed "
                         "(see trace_emulator / trace_runtime)")
    found = legs(rt, emu)
    print(f"\n{'leg':72s} {'p50 ms':>8s} {'p90 ms':>8s}  turns")
    for name, values in found.items():
        ordered = sorted(values)
        print(f"{name:72s} {statistics.median(ordered):8.3f} {ordered[int(0.9 * (len(ordered) - 1))]:8.3f}  "
              f"{len(ordered)}")
    relay = report["per_variant"]["sonic-unified"]["relay_overhead"]
    print(f"{'runtime WebSocket relay, both ways (from bench_relay)':72s} {relay['p50_ms']:8.3f} "
          f"{relay['p95_ms']:8.3f}  (p95)")
    print(f"logs: {workdir}")


if __name__ == "__main__":
    main()
