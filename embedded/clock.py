"""The embedded stack's clock: the rollout's time (bakes, alarm periods, cache periods, metric timestamps) on a
timeline that may run faster than real time, while audio and latency stay real.

DESIGN.md: time is injected, so periods are tested without waiting for them. `ScaledClock(speed=10)` makes the
demo's 10 s alarm periods, 5 s bakes and 3 s registry cache pass in a tenth of the time: whatever reads this clock
(the runtime's metric timestamps, its registry cache, the local alarm runner, the revert handler, the release
owner, the scenario's waits) agrees on one virtual timeline. Whatever measures latency (TTFA, the emulators'
think times, timeouts) keeps the real monotonic clock. At speed 1 (the default, what `voicectl demo` runs) the
timeline is the wall clock.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass(frozen=True)
class ScaledClock:
    """Epoch seconds that advance `speed` times faster than real time, starting at the real time it was made."""

    speed: float = 1.0
    _wall0: float = field(default_factory=time.time, repr=False)
    _mono0: float = field(default_factory=time.monotonic, repr=False)

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ValueError(f"clock speed must be positive, got {self.speed}")

    def time(self) -> float:
        """Now on the virtual timeline (epoch seconds; monotonic, since it runs off time.monotonic)."""
        return self._wall0 + (time.monotonic() - self._mono0) * self.speed

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.time(), UTC)

    def real(self, seconds: float) -> float:
        """How long `seconds` of virtual time take in real time."""
        return seconds / self.speed

    async def sleep(self, seconds: float) -> None:
        """Let `seconds` of virtual time pass."""
        await asyncio.sleep(self.real(seconds))
