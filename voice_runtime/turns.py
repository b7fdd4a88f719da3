"""One turn of a conversation: its audio feed, its timestamps, and the pure functions that turn those into the
`turn_end` message and the metric samples (TTFA as the memo defines it).

Timestamps are monotonic seconds from the session's injected clock; `wall_at` (epoch seconds) only stamps metrics.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from voice_runtime.adapters.base import INPUT_SAMPLE_RATE, OUTPUT_SAMPLE_RATE, SAMPLE_WIDTH, TurnFeed
from voice_runtime.metrics import BARGE_IN, MODEL_LATENCY, SESSION_ERROR, TTFA, Sample


class AudioFeed:
    """The user's audio of one turn: frames appended as they arrive; each `reader()` replays it from the start
    and then follows live frames, so a retry on the baseline hears the whole utterance."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.bytes = 0
        self.closed = False
        self._event = asyncio.Event()

    def _wake(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    def append(self, frame: bytes) -> None:
        self.frames.append(frame)
        self.bytes += len(frame)
        self._wake()

    def close(self) -> None:
        self.closed = True
        self._wake()

    def reader(self) -> FeedReader:
        """A new reader from the first frame (see FeedReader)."""
        return FeedReader(self)


class FeedReader(TurnFeed):
    """Async iterator over one AudioFeed's frames, live. `at_end` says whether the frame just given was the last
    one (the user's end of turn had arrived with it), so an adapter can send what ends a turn with that frame
    instead of after it (the adapters.base.TurnFeed interface)."""

    def __init__(self, feed: AudioFeed) -> None:
        self._feed = feed
        self._next = 0

    @property
    def at_end(self) -> bool:
        return self._feed.closed and self._next >= len(self._feed.frames)

    def __aiter__(self) -> FeedReader:
        return self

    async def __anext__(self) -> bytes:
        feed = self._feed
        while True:
            event = feed._event
            if self._next < len(feed.frames):
                self._next += 1
                return feed.frames[self._next - 1]
            if feed.closed:
                raise StopAsyncIteration
            await event.wait()


@dataclass
class Attempt:
    """One try of the turn on one variant (the resolved one, then at most one retry on the baseline)."""

    variant: str
    backend: str
    ok: bool = False
    error: str | None = None


@dataclass
class Turn:
    """Everything known about one turn; the session fills it in, the sender stamps what it sends."""

    index: int
    turn_id: str
    variant: str
    backend: str
    started_at: float
    feed: AudioFeed = field(default_factory=AudioFeed)
    last_audio_at: float | None = None
    end_turn_at: float | None = None
    first_backend_audio_at: float | None = None
    first_audio_sent_at: float | None = None
    last_audio_sent_at: float | None = None
    audio_out_bytes: int = 0
    barge_at: float | None = None
    frames_dropped: int = 0
    backend_stopped: bool | None = None
    attempts: list[Attempt] = field(default_factory=list)
    reason: str = "end_turn"
    ended_at: float | None = None

    @property
    def listening(self) -> bool:
        return self.end_turn_at is None

    @property
    def barged(self) -> bool:
        return self.barge_at is not None

    @property
    def served_by(self) -> str:
        """The variant that produced the reply (the last attempt's)."""
        return self.attempts[-1].variant if self.attempts else self.variant

    @property
    def retried(self) -> bool:
        return len(self.attempts) > 1


def _ms(later: float | None, earlier: float | None, *, clamp: bool = True) -> float | None:
    if later is None or earlier is None:
        return None
    value = (later - earlier) * 1000
    return round(max(0.0, value) if clamp else value, 3)


def ttfa_ms(turn: Turn) -> float | None:
    """Memo: first output audio frame (sent) minus the last user audio frame received before end of turn."""
    return _ms(turn.first_audio_sent_at, turn.last_audio_at)


def timings(turn: Turn) -> dict[str, float | None]:
    return {
        "ttfa_ms": ttfa_ms(turn),
        "model_latency_ms": _ms(turn.first_backend_audio_at, turn.end_turn_at),
        "turn_ms": _ms(turn.ended_at, turn.started_at),
        "audio_in_ms": round(turn.feed.bytes / (INPUT_SAMPLE_RATE * SAMPLE_WIDTH) * 1000, 3),
        "audio_out_ms": round(turn.audio_out_bytes / (OUTPUT_SAMPLE_RATE * SAMPLE_WIDTH) * 1000, 3),
    }


def barge_in_block(turn: Turn) -> dict[str, Any] | None:
    if turn.barge_at is None:
        return None
    stop = _ms(turn.last_audio_sent_at, turn.barge_at) if turn.last_audio_sent_at is not None else 0.0
    return {"stop_ms": stop, "frames_dropped": turn.frames_dropped, "backend_stopped": bool(turn.backend_stopped)}


def turn_end_message(turn: Turn) -> dict[str, Any]:
    return {
        "type": "turn_end", "turn_id": turn.turn_id, "turn": turn.index, "variant": turn.served_by,
        "reason": turn.reason, "retried_on_baseline": turn.retried, "timings": timings(turn),
        "barge_in": barge_in_block(turn),
    }


def samples(turn: Turn, wall_at: float) -> list[Sample]:
    """The metric samples of a finished turn, per attempt's variant.

    SessionError is 0/1 per attempt (Average = error rate of that variant); TTFA and ModelLatency come from the
    attempt that produced audio; BargeIn is 1 when the backend ended the turn promptly after a barge-in.
    """
    out = [Sample.of(SESSION_ERROR, 0.0 if a.ok else 1.0, a.variant, wall_at) for a in turn.attempts
           if a.ok or a.error is not None]
    served = turn.served_by
    if turn.attempts and turn.attempts[-1].ok:
        ttfa = ttfa_ms(turn)
        if ttfa is not None:
            out.append(Sample.of(TTFA, ttfa, served, wall_at))
        model = _ms(turn.first_backend_audio_at, turn.end_turn_at)
        if model is not None:
            out.append(Sample.of(MODEL_LATENCY, model, served, wall_at))
    if turn.barged:
        out.append(Sample.of(BARGE_IN, 1.0 if turn.backend_stopped else 0.0, served, wall_at))
    return out
