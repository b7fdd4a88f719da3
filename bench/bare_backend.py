"""The floor under `bench_relay`: a backend with no protocol at all, to measure what this machine and the runtime
cost before any SDK, TLS, HTTP/2 or event signing is involved.

`bench_relay.py --backend bare-tcp` swaps the Nova Sonic adapter for `BareAdapter`, which sends the turn's audio as
length-prefixed frames over a plain TCP socket to this module's model process (run as a script, pinned where the
emulators run). The model answers each end of turn exactly `--nova-ms` later (the emulators' timer, the same
`Behaviour.wait_until`) with 24 kHz audio: a first 40 ms chunk, then the rest in one burst, as the Nova Sonic
emulator does. Everything else is the product: the callers, the WebSocket server, sessions, routing, the relay loop.

So "client TTFA - latency" here is the part of the relay overhead that no backend protocol can remove on this
machine: two WebSocket hops, two TCP hops between processes on different cores, and the runtime's own turn path.

Wire format, both ways: 4-byte big-endian length, then that many bytes of s16le PCM; length 0 ends the turn.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import struct
import sys
from collections.abc import AsyncIterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from emulators.audio import split, voiced_pcm  # noqa: E402
from emulators.behaviour import Behaviour, Latency  # noqa: E402
from voice_runtime.adapters.base import (  # noqa: E402
    OUTPUT_SAMPLE_RATE,
    SAMPLE_WIDTH,
    AudioChunk,
    BackendError,
    BackendEvent,
    SessionContext,
    TurnEnd,
    turn_ended,
)

HEADER = struct.Struct(">I")
END = HEADER.pack(0)
FIRST_CHUNK_MS = 40


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    """One length-prefixed frame (b"" is the end-of-turn marker)."""
    (size,) = HEADER.unpack(await reader.readexactly(HEADER.size))
    return await reader.readexactly(size) if size else b""


class BareSession:
    """One conversation's TCP connection to the bare model."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    async def run_turn(self, audio: AsyncIterator[bytes]) -> AsyncIterator[BackendEvent]:
        ended = False
        async for frame in audio:
            # The end marker rides in the same write as the last frame when the runtime already knows it is the
            # last (what the Nova Sonic adapter does with its pause), so it costs no write of its own.
            ended = turn_ended(audio)
            self._writer.write(HEADER.pack(len(frame)) + frame + (END if ended else b""))
        if not ended:
            self._writer.write(END)
        try:
            while pcm := await read_frame(self._reader):
                yield AudioChunk(pcm)
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise BackendError(f"bare model connection lost: {exc}") from exc
        yield TurnEnd()

    async def barge_in(self) -> None:
        return None  # the bench's callers never barge in

    async def close(self) -> None:
        self._writer.close()


class BareAdapter:
    """Factory of bare sessions: one TCP connection per conversation to `host:port`."""

    name = "bare-tcp"

    def __init__(self, url: str) -> None:
        host, _, port = url.removeprefix("tcp://").rpartition(":")
        self._host, self._port = host, int(port)

    async def open_session(self, ctx: SessionContext) -> BareSession:
        reader, writer = await asyncio.open_connection(self._host, self._port)
        return BareSession(reader, writer)

    async def aclose(self) -> None:
        return None


async def serve(behaviour: Behaviour) -> None:
    """The bare model: answer each end of turn after the behaviour's latency; print its URL line and run forever."""
    bytes_per_ms = OUTPUT_SAMPLE_RATE * SAMPLE_WIDTH // 1000
    reply = voiced_pcm(behaviour.reply_audio_ms, OUTPUT_SAMPLE_RATE)
    first, rest = reply[: bytes_per_ms * FIRST_CHUNK_MS], reply[bytes_per_ms * FIRST_CHUNK_MS:]
    first_frame = HEADER.pack(len(first)) + first
    rest_frames = b"".join(HEADER.pack(len(c)) + c for c in split(rest, bytes_per_ms * behaviour.chunk_ms))

    async def conversation(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                while await read_frame(reader):
                    pass
                heard_at = loop.time()
                delay, _ = behaviour.next_turn()
                await behaviour.wait_until(heard_at + delay, loop)
                behaviour.record_answer(heard_at, delay, loop.time())
                writer.write(first_frame)
                await asyncio.sleep(0)  # the first audio leaves before the burst is queued, as in the emulator
                writer.write(rest_frames + END)
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(conversation, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(json.dumps({"url": f"tcp://127.0.0.1:{port}"}), flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    """Run the bare model (`bench_relay.start_emulators` passes every emulator option; only these are used)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nova-ms", type=float, default=150.0)
    parser.add_argument("--sigma", type=float, default=0.0)
    parser.add_argument("--reply-ms", type=int, default=600)
    args, _ = parser.parse_known_args(argv)
    behaviour = Behaviour(latency=Latency(median_ms=args.nova_ms, sigma=args.sigma), reply_audio_ms=args.reply_ms)
    asyncio.run(serve(behaviour))


if __name__ == "__main__":
    main()

