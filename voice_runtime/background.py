"""Blocking work off the event loop, on daemon threads that can never hold the process at exit.

The runtime's blocking calls (an EMF line written to a stdout pipe, PutMetricData, the SSM fetch) may hang for as
long as the other end likes. Two rules follow:

* the event loop never waits on them: `BoundedWorker.submit` never blocks (when its queue is full the item is
  dropped and counted), and `call_in_thread` gives up after a timeout while the call goes on in its thread;
* they never hold SIGTERM: their threads are daemon threads, which the interpreter does not join at exit. The
  standard pools (asyncio's default executor, `ThreadPoolExecutor`) are joined at exit, so one call hung in them
  kept the process alive until ECS sent SIGKILL.

A daemon thread blocked in a *buffered* stream write holds that stream's lock, and the interpreter's final flush
of the same stream would then abort the process; so the EMF writer writes to the file descriptor (`os.write`)
and never through `sys.stdout`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections import deque
from collections.abc import Callable

log = logging.getLogger(__name__)


class BoundedWorker[T]:
    """One daemon thread handling submitted items in order; at most `limit` wait, later ones are refused."""

    def __init__(self, handle: Callable[[T], None], *, limit: int, name: str) -> None:
        self._handle = handle
        self.limit = limit
        self.name = name
        self._items: deque[T] = deque()
        self._cond = threading.Condition()
        self._busy = False
        self._thread: threading.Thread | None = None
        self.handled = 0
        self.refused = 0
        self.failed = 0

    def submit(self, item: T) -> bool:
        """Queue `item` for the thread; False (and counted) when `limit` items are already waiting. Never blocks:
        the lock is only held to touch the queue, never while an item is handled."""
        with self._cond:
            if len(self._items) >= self.limit:
                self.refused += 1
                return False
            self._items.append(item)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            self._cond.notify_all()
        return True

    @property
    def queued(self) -> int:
        """Items waiting, plus the one being handled."""
        with self._cond:
            return len(self._items) + int(self._busy)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._items:
                    self._cond.wait()
                item = self._items.popleft()
                self._busy = True
            try:
                self._handle(item)
                self.handled += 1
            except Exception:  # one failed item must not end the thread that handles the next ones
                self.failed += 1
                log.debug("%s: an item failed", self.name, exc_info=True)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Block until everything submitted was handled, at most `timeout` seconds; False if still busy."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._items and not self._busy, timeout)


async def call_in_thread[R](fn: Callable[[], R], *, name: str) -> R:
    """`fn()` on a new daemon thread; its result or exception. Cancelling the await (a timeout around it) leaves
    the call running in its thread, which keeps nothing alive at exit."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[R] = loop.create_future()

    def deliver(result: R | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def run() -> None:
        try:
            result, error = fn(), None
        except BaseException as exc:  # delivered to the awaiting coroutine, which decides
            result, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits for this result any more
            loop.call_soon_threadsafe(deliver, result, error)

    threading.Thread(target=run, name=name, daemon=True).start()
    return await future
