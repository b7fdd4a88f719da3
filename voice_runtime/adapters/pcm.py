"""PCM plumbing for the pipeline adapters (pure, streaming): whole-sample re-framing and 16 -> 24 kHz resampling.

Both keep state across chunks, so a stream cut at arbitrary byte offsets gives the same samples as one cut nowhere.
"""

from __future__ import annotations

from array import array

import numpy as np

SAMPLE_WIDTH = 2


class SampleAligner:
    """Re-frame a byte stream into whole 16-bit samples: a part may end mid-sample (SageMaker PayloadPart)."""

    def __init__(self) -> None:
        self._carry = b""

    def feed(self, data: bytes) -> bytes:
        """Whole samples available so far (possibly b''); an odd trailing byte waits for the next part."""
        data = self._carry + data
        cut = len(data) - len(data) % SAMPLE_WIDTH
        self._carry = data[cut:]
        return data[:cut]

    @property
    def pending(self) -> int:
        return len(self._carry)


class Upsampler16To24:
    """Linear-interpolation resampler from 16 kHz to 24 kHz (3 output samples per 2 input), s16le in and out.

    Output sample j sits at input position 2j/3; the last input sample is held back until the next chunk (or
    `flush`) because interpolating it needs its successor. Vectorised with numpy: M1 resamples every second of
    Polly's speech, and a per-sample Python loop cost more CPU than the rest of the turn.
    """

    def __init__(self) -> None:
        self._aligner = SampleAligner()
        self._pending = np.zeros(0, dtype=np.int32)

    def feed(self, pcm16k: bytes) -> bytes:
        samples = np.concatenate([self._pending, np.frombuffer(self._aligner.feed(pcm16k), dtype="<i2")])
        samples = samples.astype(np.int32, copy=False)
        steps = (len(samples) - 1) // 2 if len(samples) > 2 else 0  # each consumes 2 samples, peeks at a 3rd
        a = samples[0:2 * steps:2]
        b = samples[1:2 * steps:2]
        c = samples[2:2 * steps + 1:2]
        out = np.empty(3 * steps, dtype=np.int32)
        out[0::3] = a
        out[1::3] = (a + 2 * b) // 3
        out[2::3] = (2 * b + c) // 3
        self._pending = samples[2 * steps:]
        return out.astype("<i2").tobytes()

    def flush(self) -> bytes:
        """The held-back tail (the last sample repeated where it has no successor)."""
        tail = [int(v) for v in self._pending]
        self._pending = np.zeros(0, dtype=np.int32)
        if len(tail) == 2:
            a, b = tail
            values = [a, (a + 2 * b) // 3, b]
        elif len(tail) == 1:
            values = [tail[0], tail[0]]
        else:
            values = []
        return array("h", values).tobytes()
