"""The ws-echo backend (memo Phase 1): the user's own audio comes back, resampled from 16 kHz to 24 kHz.

No inference at all, so a turn's TTFA through it measures the runtime and the transport alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np

from voice_runtime.adapters.base import (
    AudioChunk,
    BackendEvent,
    SessionContext,
    Transcript,
    TurnEnd,
    Usage,
)
from voice_runtime.settings import RuntimeSettings

CHUNK_BYTES = 9600  # 200 ms of 24 kHz s16le


class Resampler:
    """Streaming linear interpolation 16 kHz -> 24 kHz of s16le mono PCM: 3 output samples per 2 input samples.

    Output sample j sits at input position 2j/3, so each input pair (a, b) with its successor c gives
    a, a + 2(b - a)/3 and b + (c - b)/3. Samples not yet followed by a successor are carried to the next frame.
    """

    def __init__(self) -> None:
        self._carry = np.zeros(0, dtype=np.int32)
        self._odd_byte = b""

    def feed(self, pcm: bytes) -> bytes:
        data = self._odd_byte + pcm
        cut = len(data) - len(data) % 2
        self._odd_byte = data[cut:]
        # Vectorised: a pure-Python loop over samples costs ~100 us per 20 ms frame, which adds up to a saturated
        # event loop at a hundred concurrent sessions.
        src = np.concatenate((self._carry, np.frombuffer(data[:cut], dtype="<i2").astype(np.int32)))
        pairs = max(0, (len(src) - 1) // 2)
        a, b, c = src[0 : 2 * pairs : 2], src[1 : 2 * pairs : 2], src[2 : 2 * pairs + 1 : 2]
        out = np.empty(3 * pairs, dtype="<i2")
        out[0::3] = a
        out[1::3] = np.rint(a + 2 * (b - a) / 3)
        out[2::3] = np.rint(b + (c - b) / 3)
        self._carry = src[2 * pairs :]
        return out.tobytes()

    def flush(self) -> bytes:
        """The tail (1 or 2 samples): held at the last value, since no successor follows."""
        tail = self._carry.astype("<i2").tobytes()
        self._carry = np.zeros(0, dtype=np.int32)
        self._odd_byte = b""
        if not tail:
            return b""
        out = self.feed(tail + tail[-2:] * 2)  # one complete pair plus its successor
        self._carry = np.zeros(0, dtype=np.int32)
        return out


def resample_16k_to_24k(pcm: bytes) -> bytes:
    """One-shot resampling of a whole buffer (see `Resampler`)."""
    r = Resampler()
    return r.feed(pcm) + r.flush()


class EchoSession:
    """Buffers the turn's audio, then plays it back at 24 kHz in chunks."""

    def __init__(self, ctx: SessionContext) -> None:
        self.ctx = ctx
        self._barged = asyncio.Event()

    async def run_turn(self, audio: AsyncIterator[bytes]) -> AsyncIterator[BackendEvent]:
        self._barged.clear()
        # Resample as the audio arrives so the reply is ready the moment the turn ends.
        resampler = Resampler()
        out = bytearray()
        received = 0
        async for frame in audio:
            received += len(frame)
            out += resampler.feed(frame)
        out += resampler.flush()
        yield Transcript(role="user", text=f"({received // 32} ms of audio)")
        for start in range(0, len(out), CHUNK_BYTES):
            if self._barged.is_set():
                yield TurnEnd(reason="INTERRUPTED")
                return
            yield AudioChunk(bytes(out[start : start + CHUNK_BYTES]))
            await asyncio.sleep(0)  # let barge-in and other sessions in between chunks
        yield Usage()
        yield TurnEnd()

    async def barge_in(self) -> None:
        self._barged.set()

    async def close(self) -> None:
        self._barged.set()


class EchoAdapter:
    """Factory of echo sessions; holds no resources."""

    name = "echo"

    def __init__(self, settings: RuntimeSettings | None = None) -> None:
        self.settings = settings

    async def open_session(self, ctx: SessionContext) -> EchoSession:
        return EchoSession(ctx)

    async def aclose(self) -> None:
        return None
