"""What every emulator can be told to do: how slow to be (a latency distribution) and how to fail.

Latency is sampled from a seeded generator so runs are reproducible; faults are either scripted (`inject`, consumed
one per turn in order, for tests) or drawn at a rate (for load tests). Each emulator records the delay it added per
turn so a benchmark can subtract the emulator's own latency from what the client measured.
"""

from __future__ import annotations

import asyncio
import math
import random
import threading
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum


class Fault(StrEnum):
    """Failures the emulators can inject, named after what the real service does."""

    STREAM_ERROR = "stream_error"  # a modelled mid-stream error event (ModelStreamErrorException and the like)
    MODEL_TIMEOUT = "model_timeout"  # ModelTimeoutException mid-stream
    THROTTLE = "throttle"  # ThrottlingException (HTTP 429 on the request, or an exception event mid-stream)
    STALL = "stall"  # the reply stops mid-way and nothing more comes (the client must time out)


@dataclass(frozen=True)
class Latency:
    """Time from end of the user's turn to the first output audio: log-normal around `median_ms`.

    `sigma` 0 gives a fixed delay; ~0.3 gives a realistic right tail (p95 ~ 1.6 x median).
    """

    median_ms: float = 150.0
    sigma: float = 0.0
    floor_ms: float = 0.0

    def sample(self, rng: random.Random) -> float:
        """One delay in seconds."""
        value = self.median_ms if self.sigma <= 0 else self.median_ms * math.exp(rng.gauss(0.0, self.sigma))
        return max(self.floor_ms, value) / 1000.0


TIMER_LEAD_CAP_S = 0.001  # at most this early (see Behaviour.wait_until)


@dataclass
class Behaviour:
    """Mutable, thread-safe knobs shared by an emulator and the test or benchmark driving it."""

    latency: Latency = field(default_factory=Latency)
    fault_rate: float = 0.0
    fault_kinds: tuple[Fault, ...] = (Fault.STREAM_ERROR,)
    seed: int = 7
    reply_audio_ms: int = 600  # Nova Sonic: audio per reply
    speech_ms_per_char: float = 55.0  # Polly, SageMaker CSM: audio per character of text (about speaking speed)
    chunk_ms: int = 40
    tool_every: int = 0  # Nova Sonic: every Nth turn asks for the first tool offered (0: never)
    pace_audio: bool = False  # emit output audio at speaking speed (a reply still streaming can be barged in on)
    playback_speed: float = 1.0  # Nova Sonic: how fast the client is taken to play the reply (FINAL text timing)
    # Nova Sonic: "played" sends each segment's FINAL text once it has been played (after the last AUDIO END_TURN,
    # the order the service sends); "early" sends it before its AUDIO contentEnd, the other order a client must
    # read the same way (tests of the adapter's turn accounting).
    final_text: str = "played"
    stream_limit_s: float = 480.0  # Nova Sonic: the stream "remains open for 8 minutes" (Bedrock API reference)
    idle_timeout_s: float = 60.0  # Nova Sonic: no input for this long ends the stream (duration not documented)
    _scripted: deque[Fault] = field(default_factory=deque, repr=False)
    _rng: random.Random = field(init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    delays: list[float] = field(default_factory=list, repr=False)
    lateness: list[float] = field(default_factory=list, repr=False)  # seconds past each sampled delay (<0: early)
    faults: list[Fault] = field(default_factory=list, repr=False)
    turns: int = 0
    _oversleep: float = field(default=0.0, repr=False)  # recent timer lateness, in seconds (see wait_until)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def inject(self, *faults: Fault) -> None:
        """Fail the next turn(s), in order, one fault per turn."""
        self._scripted.extend(faults)

    def next_turn(self) -> tuple[float, Fault | None]:
        """Draw this turn's delay and fault (scripted first, then at `fault_rate`) and record them."""
        with self._lock:
            self.turns += 1
            delay = self.latency.sample(self._rng)
            fault: Fault | None = None
            if self._scripted:
                fault = self._scripted.popleft()
            elif self.fault_rate > 0 and self._rng.random() < self.fault_rate:
                fault = self._rng.choice(self.fault_kinds)
            self.delays.append(delay)
            if fault is not None:
                self.faults.append(fault)
            return delay, fault

    async def wait_until(self, deadline: float, loop: asyncio.AbstractEventLoop) -> None:
        """Sleep until `deadline` (loop time), waking early by the loop's recent oversleep: asyncio timers fire up
        to a millisecond late (epoll's timeout resolution), which would otherwise add to every configured latency.
        The lead is capped at that millisecond: lateness from a busy loop is not compensated, since guessing it
        would make turns early whenever the load eases (and understate what the relay adds)."""
        target = deadline - self._oversleep
        await asyncio.sleep(max(0.0, target - loop.time()))
        late = loop.time() - target
        with self._lock:
            self._oversleep = min(TIMER_LEAD_CAP_S, max(0.0, 0.8 * self._oversleep + 0.2 * late))

    def record_answer(self, started: float, delay: float, answered: float) -> None:
        """Note how late a turn's first output went out relative to its sampled delay (the emulator's own jitter,
        so benchmarks can tell it apart from the latency of whatever sits between client and emulator)."""
        with self._lock:
            self.lateness.append(answered - started - delay)

    def take_connect_fault(self) -> Fault | None:
        """A scripted THROTTLE at the head of the queue is spent on the next connection (HTTP 429)."""
        with self._lock:
            if self._scripted and self._scripted[0] is Fault.THROTTLE:
                self.faults.append(self._scripted.popleft())
                return Fault.THROTTLE
            return None
