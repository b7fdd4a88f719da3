"""Stopping a runtime process within a stated bound (docs/reliability.md, "bounded shutdown" and "drain").

SIGTERM (or SIGINT) starts the drain: no new sessions, each session closed with 1012 at its turn boundary, for at
most `drain_seconds`; then `VoiceServer.stop` closes the rest within `shutdown_seconds`. A second signal skips
what is left of the drain. The runtime's own blocking calls run on daemon threads (voice_runtime/background.py),
so nothing of ours holds the interpreter at exit; a backend SDK's own thread pool might, so an `ExitWatchdog`
ends the process with `os._exit` if it is still alive `EXIT_MARGIN` seconds after the bound. The process is gone
within drain_seconds + shutdown_seconds + EXIT_MARGIN of the first signal, whatever hangs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable

from voice_runtime.server import VoiceServer
from voice_runtime.settings import RuntimeSettings

log = logging.getLogger(__name__)

EXIT_MARGIN = 2.0  # the close handshakes and the interpreter's own exit, after the shutdown bound


def stop_bound(settings: RuntimeSettings) -> float:
    """Seconds from SIGTERM to the process being gone, at most (what the ECS stop timeout must exceed)."""
    return settings.drain_seconds + settings.shutdown_seconds + EXIT_MARGIN


class ExitWatchdog:
    """Ends the process with `os._exit(code)` when it is still alive at its deadline; `arm` only ever moves the
    deadline earlier. Its thread is a daemon, so a process that exits in time never waits for it."""

    def __init__(self, code: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.code = code
        self._clock = clock
        self._deadline: float | None = None
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def arm(self, seconds: float) -> None:
        with self._cond:
            deadline = self._clock() + seconds
            if self._deadline is None or deadline < self._deadline:
                self._deadline = deadline
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="exit-watchdog", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _run(self) -> None:
        with self._cond:
            while self._deadline is None or self._clock() < self._deadline:
                self._cond.wait(None if self._deadline is None else self._deadline - self._clock())
        busy = sorted(t.name for t in threading.enumerate() if t is not threading.current_thread() and t.is_alive())
        log.error("shutdown: still running at the stop bound; exiting now (threads: %s)", ", ".join(busy))
        for handler in logging.getLogger().handlers:
            with contextlib.suppress(Exception):
                handler.flush()
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        os._exit(self.code)


async def serve_until_stopped(server: VoiceServer, on_ready: Callable[[VoiceServer], None] | None = None, *,
                              watchdog: ExitWatchdog | None = None) -> None:
    """Start, report readiness, run until SIGINT/SIGTERM, then drain and stop within the settings' bounds."""
    await server.start()
    if on_ready is not None:
        on_ready(server)
    stop = asyncio.Event()
    hurry = asyncio.Event()

    def on_signal() -> None:
        (hurry if stop.is_set() else stop).set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal)
    settings = server.settings
    try:
        await stop.wait()
        if watchdog is not None:
            watchdog.arm(stop_bound(settings))
        log.info("stopping: draining %d sessions for up to %gs (a second signal skips the drain)",
                 len(server.sessions), settings.drain_seconds)
        drain = loop.create_task(server.drain(settings.drain_seconds))
        hurried = loop.create_task(hurry.wait())
        await asyncio.wait({drain, hurried}, return_when=asyncio.FIRST_COMPLETED)
        hurried.cancel()
        if not drain.done():
            drain.cancel()
            log.warning("stopping: drain skipped by a second signal")
        if watchdog is not None:
            watchdog.arm(settings.shutdown_seconds + EXIT_MARGIN)
    finally:
        await server.stop()
