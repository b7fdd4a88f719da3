"""Real PCM audio for the emulators: a voiced, speech-like waveform at any sample rate, cached per shape.

Output is 16-bit little-endian mono, so what the runtime forwards is playable audio, not placeholder bytes.
"""

from __future__ import annotations

import math
from array import array
from functools import lru_cache

import numpy as np

SAMPLE_WIDTH = 2


@lru_cache(maxsize=64)
def voiced_pcm(duration_ms: int, sample_rate: int, pitch_hz: float = 140.0, amplitude: float = 0.3) -> bytes:
    """A vowel-like tone (fundamental plus two formant-ish harmonics, 10 ms fades) as s16le PCM."""
    count = sample_rate * duration_ms // 1000
    fade = max(1, sample_rate // 100)
    peak = amplitude * 32767
    samples = array("h")
    for i in range(count):
        t = i / sample_rate
        value = (math.sin(2 * math.pi * pitch_hz * t) + 0.5 * math.sin(2 * math.pi * 5 * pitch_hz * t)
                 + 0.25 * math.sin(2 * math.pi * 17 * pitch_hz * t)) / 1.75
        envelope = min(1.0, i / fade, (count - 1 - i) / fade) if count > 1 else 1.0
        samples.append(int(peak * value * envelope))
    return samples.tobytes()


def silence(duration_ms: int, sample_rate: int) -> bytes:
    """Digital silence of the given duration as s16le PCM."""
    return bytes(sample_rate * duration_ms // 1000 * SAMPLE_WIDTH)


def mean_abs(pcm: bytes) -> float:
    """Mean absolute amplitude of s16le PCM (0 for empty input): the emulators' voice-activity measure."""
    if len(pcm) < SAMPLE_WIDTH:
        return 0.0
    samples = array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % SAMPLE_WIDTH])
    # Every 4th sample is plenty for a speech/silence decision and keeps 100 sessions cheap.
    picked = samples[::4]
    return sum(abs(s) for s in picked) / len(picked)


def voiced_windows(pcm: bytes, window_bytes: int, level: float) -> list[bool]:
    """Speech (mean |sample| above `level`) or not, per window of `window_bytes` (the last may be shorter): a VAD
    that sees where speech stops inside one chunk, as a model's does on its audio stream. Vectorised: the Nova Sonic
    emulator runs it on every audioInput of every session."""
    samples = np.abs(np.frombuffer(pcm, dtype="<i2", count=len(pcm) // SAMPLE_WIDTH).astype(np.int32))
    per_window = max(1, window_bytes // SAMPLE_WIDTH)
    starts = np.arange(0, len(samples), per_window)
    if not len(starts):
        return []
    sums = np.add.reduceat(samples, starts)
    counts = np.diff(np.append(starts, len(samples)))
    return [bool(v) for v in sums > level * counts]


def split(pcm: bytes, chunk_bytes: int) -> list[bytes]:
    """Cut PCM into chunks of `chunk_bytes` (the last may be shorter)."""
    return [pcm[i:i + chunk_bytes] for i in range(0, len(pcm), chunk_bytes)]
