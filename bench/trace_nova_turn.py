"""Where Nova Sonic turns' relay overhead goes: timestamps at every hand-off, in both processes, per stream.

A diagnostic, not a benchmark of record: it runs `bench_relay`'s Nova Sonic load (the real adapter and SDK against
the emulator process, pinned as bench_relay pins them) with timestamps added by wrapping functions of the runtime,
the SDK's CRT transport, the emulator and hypercorn (internals of pinned versions; a version bump may need this file
updated). Both processes log `time.monotonic()`, one clock on Linux, so legs that cross processes are comparable.
Turns are matched by the stream's promptName and connections by the client port, so it works with any number of
sessions. PRINTS, per leg, p50 / p90 / p99 over the turns:

    outbound  relay sends the audio carrying the user's pause -> emulator's server reads it -> emulator hears it
    inbound   emulator emits first audio -> its server writes it -> runtime has decoded and routed it -> adapter
              yields it to the relay
    CRT       every body write: call -> CRT thread reads it -> completion back on the asyncio loop

    .venv/bin/python bench/trace_nova_turn.py                          # 1 session x 30 turns
    .venv/bin/python bench/trace_nova_turn.py --sessions 100 --turns 20
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import io
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
    """Append-only `name key time` lines (line-buffered: the emulator process is killed, not shut down)."""

    def __init__(self, path: Path) -> None:
        self._file = path.open("w", buffering=1)

    def __call__(self, name: str, key: str, t: float | None = None) -> None:
        self._file.write(f"{name} {key} {time.monotonic() if t is None else t}\n")


def wrap_async(owner: Any, attr: str, before: Callable[..., None]) -> None:
    original = getattr(owner, attr)

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        before(*args, **kwargs)
        return await original(*args, **kwargs)

    setattr(owner, attr, wrapper)


def trace_emulator(log: Log) -> None:
    """Emulator side: bytes read from / written to each connection, the pause heard and the first audio emitted."""
    import contextvars

    from hypercorn.asyncio import tcp_server
    from hypercorn.events import RawData
    from hypercorn.protocol import ProtocolWrapper

    from emulators import nova_sonic_server as nova

    port: contextvars.ContextVar[str] = contextvars.ContextVar("port", default="?")

    def call(_: Any, scope: dict[str, Any], *__: Any) -> None:
        port.set(str((scope.get("client") or ("?", "?"))[1]))  # the stream's tasks inherit it

    on_audio = nova.NovaSonicStream._on_audio

    async def _on_audio(stream: Any, pcm: bytes) -> None:
        # The emulator's own VAD decides; a pause it heard shows as a new entry in its stream log.
        received, heard = time.monotonic(), len(stream.log.end_heard_in)
        await on_audio(stream, pcm)
        if len(stream.log.end_heard_in) > heard:
            log("emu_heard", f"{stream.prompt_name}@{port.get()}", received)

    def emit(stream: Any, name: str, body: dict[str, Any]) -> None:
        if name == "contentStart" and body.get("type") == "AUDIO":
            stream._trace_first = True
        elif name == "audioOutput" and getattr(stream, "_trace_first", False):
            stream._trace_first = False
            log("emu_audio", f"{stream.prompt_name}@{port.get()}")

    def raw_out(server: Any, event: Any) -> None:
        if isinstance(event, RawData):
            log("emu_raw_out", str(server.protocol.client[1]))

    def raw_in(wrapper: Any, event: Any) -> None:
        if isinstance(event, RawData):
            log("emu_raw_in", str(wrapper.client[1]))

    wrap_async(nova.NovaSonicEmulator, "__call__", call)
    nova.NovaSonicStream._on_audio = _on_audio  # type: ignore[method-assign,assignment]
    wrap_async(nova.NovaSonicStream, "emit", emit)
    wrap_async(tcp_server.TCPServer, "protocol_send", raw_out)
    wrap_async(ProtocolWrapper, "handle", raw_in)


WRITES: list[tuple[float, float | None, float]] = []  # CRT body writes: (called, read by the CRT thread, completed)


class _TimedBody(io.BytesIO):
    """A write's body that notes when the CRT thread first reads it."""

    read_at: float | None = None

    def readinto1(self, buffer: Any) -> int:
        if self.read_at is None:
            self.read_at = time.monotonic()
        return super().readinto1(buffer)


def trace_runtime(log: Log) -> None:
    """Runtime side: the send carrying the pause, CRT body writes, the first audio routed and yielded."""
    from awscrt.aio import http as crt_http

    from voice_runtime.adapters import nova_sonic as ns
    from voice_runtime.adapters import nova_sonic_events as ev
    from voice_runtime.adapters.base import AudioChunk

    send_audio = ns.NovaSonicSession._send_audio

    async def _send_audio(self: Any, stream: Any, pcm: bytes) -> None:
        if self._user_speaking and not any(pcm[-64:]):  # the user's turn, ending in the pause
            log("rt_send", stream.prompt_name)
        await send_audio(self, stream, pcm)

    ns.NovaSonicSession._send_audio = _send_audio  # type: ignore[method-assign]
    write_data = crt_http.AIOHttp2ClientStream._write_data

    async def _write_data(self: Any, body: Any, end_stream: bool) -> None:
        called = time.monotonic()
        timed = _TimedBody(body.getvalue()) if body is not None else None
        await write_data(self, timed, end_stream)
        if timed is not None:
            WRITES.append((called, timed.read_at, time.monotonic()))

    crt_http.AIOHttp2ClientStream._write_data = _write_data
    route = ns.NovaSonicSession._route

    def routed(self: Any, stream: Any, out: Any) -> None:
        if (isinstance(out, ev.AudioOut) and self._turn is not None and not self._voiced
                and self._current(stream, out.content_id)):
            log("rt_route", stream.prompt_name)
        route(self, stream, out)

    ns.NovaSonicSession._route = routed  # type: ignore[method-assign]
    run_turn = ns.NovaSonicSession.run_turn

    async def turn(self: Any, audio: Any) -> Any:
        first = True
        async for item in run_turn(self, audio):
            if first and isinstance(item, AudioChunk):
                first = False
                log("rt_yield", self._stream.prompt_name)
            yield item

    ns.NovaSonicSession.run_turn = turn  # type: ignore[method-assign]


def read(path: Path) -> dict[tuple[str, str], list[float]]:
    series: dict[tuple[str, str], list[float]] = {}
    for line in path.read_text().splitlines():
        name, key, value = line.split(" ")
        series.setdefault((name, key), []).append(float(value))
    return {k: sorted(v) for k, v in series.items()}


def legs(rt: dict[tuple[str, str], list[float]], emu: dict[tuple[str, str], list[float]],
         nova_s: float) -> dict[str, list[float]]:
    """Per turn, each hand-off's duration in ms (the i-th pause of a stream answers its i-th send, and so on)."""
    out: dict[str, list[float]] = {}

    def add(name: str, seconds: float) -> None:
        out.setdefault(name, []).append(seconds * 1000)

    for (name, key), heard_at in emu.items():
        if name != "emu_heard":
            continue
        prompt, _, port = key.partition("@")
        sends, audio = rt.get(("rt_send", prompt), []), emu.get(("emu_audio", key), [])
        routes, yields = rt.get(("rt_route", prompt), []), rt.get(("rt_yield", prompt), [])
        raw_in, raw_out = emu.get(("emu_raw_in", port), []), emu.get(("emu_raw_out", port), [])
        for i in range(min(len(heard_at), len(sends), len(audio), len(routes), len(yields))):
            read_at = raw_in[max(0, bisect.bisect_right(raw_in, heard_at[i]) - 1)]
            written = raw_out[min(len(raw_out) - 1, bisect.bisect_left(raw_out, audio[i]))]
            add("out: relay sends the pause -> emulator's server reads it (SDK, CRT, TLS)", read_at - sends[i])
            add("out: emulator's server reads it -> hears the pause (hypercorn, h2, decode)", heard_at[i] - read_at)
            add("emulator: answered late by (its event loop)", audio[i] - heard_at[i] - nova_s)
            add("in: first audio emitted -> emulator's server writes it (h2, TLS)", written - audio[i])
            add("in: server write -> audio routed in the runtime (CRT, hop, decode)", routes[i] - written)
            add("in: routed -> adapter yields it to the relay", yields[i] - routes[i])
            add("total: pause sent -> audio yielded, minus the emulator's latency",
                yields[i] - sends[i] - nova_s)
    for called, picked, done in WRITES:
        if picked is not None:
            add("CRT write: called -> read by the CRT thread", picked - called)
            add("CRT write: read -> completion seen on the asyncio loop", done - picked)
    return out


def serve_emulators(argv: list[str]) -> None:
    """Child process: the emulators with tracing (`--serve-emulators LOGFILE ARGS...`)."""
    trace_emulator(Log(Path(argv[0])))
    from emulators.server import main as serve

    serve(argv[1:])


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-emulators":
        serve_emulators(sys.argv[2:])
        return
    import bench_relay

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=1)
    parser.add_argument("--turns", type=int, default=30)
    parser.add_argument("--nova-ms", type=float, default=150.0)
    parser.add_argument("--pin", action=argparse.BooleanOptionalAction, default=True, help="as bench_relay's --pin")
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    workdir = Path(tempfile.mkdtemp(prefix="trace-nova-"))
    rt_log, emu_log = workdir / "runtime.log", workdir / "emulator.log"
    trace_runtime(Log(rt_log))
    start_emulators = bench_relay.start_emulators

    def traced_emulators(args: argparse.Namespace, program: list[str] | None = None
                         ) -> tuple[subprocess.Popen[str], dict[str, str]]:
        return start_emulators(args, [__file__, "--serve-emulators", str(emu_log)])

    bench_relay.start_emulators = traced_emulators
    relay_args = bench_relay.parse_args(["--sessions", str(args.sessions), "--turns", str(args.turns),
                                         "--variants", "sonic-unified", "--nova-ms", str(args.nova_ms),
                                         *(["--ramp-s", "0"] if args.sessions == 1 else []),
                                         "--pin" if args.pin else "--no-pin"])
    reports = asyncio.run(bench_relay.main_async(relay_args))
    found = legs(read(rt_log), read(emu_log), args.nova_ms / 1000)
    if not found:
        raise SystemExit(f"no matching timestamps in {workdir}: a wrapped internal has changed "
                         "(see trace_emulator / trace_runtime)")
    print(f"\n{'leg':80s} {'p50 ms':>8s} {'p90 ms':>8s} {'p99 ms':>8s}  count")
    for name, values in found.items():
        ordered = sorted(values)
        print(f"{name:80s} {statistics.median(ordered):8.3f} {ordered[int(0.9 * (len(ordered) - 1))]:8.3f} "
              f"{ordered[int(0.99 * (len(ordered) - 1))]:8.3f}  {len(ordered)}")
    relay = reports[0]["per_variant"]["sonic-unified"]["relay_overhead"]
    print(f"{'runtime WebSocket relay, both ways (from bench_relay; p50, p95, p99)':80s} {relay['p50_ms']:8.3f} "
          f"{relay['p95_ms']:8.3f} {relay['p99_ms']:8.3f}")
    print(f"logs: {workdir}")


if __name__ == "__main__":
    main()
