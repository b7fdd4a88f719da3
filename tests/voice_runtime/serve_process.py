"""`voicectl runtime serve` as a real process for the tests that need one (a stdout nobody reads, SIGTERM), and a
TCP endpoint that accepts connections and never answers (an AWS API that hangs)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VOICECTL = Path(sys.executable).parent / "voicectl"
READY = re.compile(r"listening on ws://[^:]+:(\d+)/ws")
F_SETPIPE_SZ = 1031  # fcntl.F_SETPIPE_SZ on Linux (the constant is only exported by Python >= 3.10 on some builds)


@dataclass
class ServeProcess:
    """A running `voicectl runtime serve`; stderr is read continuously (it must never be the pipe that fills)."""

    process: subprocess.Popen[bytes]
    port: int
    stderr: list[str] = field(default_factory=list)

    def log(self) -> str:
        return "".join(self.stderr)


def small_pipe() -> tuple[int, int]:
    """A pipe whose buffer is one page (4 KiB, Linux's minimum) instead of 64 KiB, so a few EMF lines fill it."""
    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, getattr(fcntl, "F_SETPIPE_SZ", F_SETPIPE_SZ), 4096)
    return read_end, write_end


@contextlib.contextmanager
def serve(args: list[str], *, stdout: int | None = None, env: dict[str, str] | None = None,
          ready_timeout: float = 60) -> Iterator[ServeProcess]:
    """Start `voicectl runtime serve --port 0 ARGS`, wait for its ready line on stderr, yield, then kill it."""
    process = subprocess.Popen(
        [str(VOICECTL), "runtime", "serve", "--port", "0", *args],
        stdout=stdout if stdout is not None else subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    assert process.stderr is not None
    lines: list[str] = []
    ready = threading.Event()
    port: list[int] = []

    def pump() -> None:
        assert process.stderr is not None
        for raw in process.stderr:
            line = raw.decode(errors="replace")
            lines.append(line)
            match = READY.search(line)
            if match and not port:
                port.append(int(match.group(1)))
                ready.set()
        ready.set()  # the process ended

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        assert ready.wait(ready_timeout) and port, "".join(lines)
        yield ServeProcess(process, port[0], lines)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)
        reader.join(10)


@contextlib.contextmanager
def hung_endpoint() -> Iterator[str]:
    """http://127.0.0.1:PORT of a server that accepts every connection, reads what it is sent, never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(conn)  # kept open and never answered

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        for conn in accepted:
            conn.close()
        listener.close()
