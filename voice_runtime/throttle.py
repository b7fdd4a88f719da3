"""Rate limiting for log lines that a failing dependency would otherwise repeat on every attempt or sample."""

from __future__ import annotations

import time
from collections.abc import Callable


class Throttle:
    """Lets one event through per `every` seconds of an injected clock and counts the ones it held back."""

    def __init__(self, every: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self._clock = clock
        self._last: float | None = None
        self.held = 0

    def ready(self) -> int | None:
        """None while the last event let through is younger than `every`; else how many were held back since
        (the count restarts)."""
        now = self._clock()
        if self._last is not None and now - self._last < self.every:
            self.held += 1
            return None
        self._last = now
        held, self.held = self.held, 0
        return held

    def reset(self) -> None:
        """Forget the last event: the next one goes through (a new episode starts)."""
        self._last = None
        self.held = 0
