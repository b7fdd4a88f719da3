"""PCM plumbing for the pipeline adapters (pure, streaming): whole-sample re-framing and 16 -> 24 kHz resampling.

Both keep state across chunks, so a stream cut at arbitrary byte offsets gives the same samples as one cut nowhere.
"""

from __future__ import annotations

from array import array

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
    `flush`) because interpolating it needs its successor.
    """

    def __init__(self) -> None:
        self._aligner = SampleAligner()
        self._pending = array("h")

    def feed(self, pcm16k: bytes) -> bytes:
        samples = self._pending
        samples.frombytes(self._aligner.feed(pcm16k))
        out = array("h")
        i = 0
        # Each step consumes x[i], x[i+1] and peeks at x[i+2].
        while i + 2 < len(samples):
            a, b, c = samples[i], samples[i + 1], samples[i + 2]
            out.append(a)
            out.append((a + 2 * b) // 3)
            out.append((2 * b + c) // 3)
            i += 2
        self._pending = samples[i:]
        return out.tobytes()

    def flush(self) -> bytes:
        """The held-back tail (the last sample repeated where it has no successor)."""
        tail = self._pending
        self._pending = array("h")
        out = array("h")
        if len(tail) == 2:
            a, b = tail
            out.extend([a, (a + 2 * b) // 3, b])
        elif len(tail) == 1:
            out.extend([tail[0], tail[0]])
        return out.tobytes()
