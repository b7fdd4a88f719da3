"""Synthetic speech-like audio: harmonic tone bursts with a syllable envelope, as s16le PCM or a WAV file.

Used by the synthetic conversations of the demo and the load test (16 kHz frames, protocol input) and by the
browser test (a WAV file fed to Chromium's fake microphone). Deterministic: the same arguments give the same bytes.
"""

from __future__ import annotations

import io
import math
import struct
import wave
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

INPUT_RATE = 16_000


@lru_cache(maxsize=32)  # hundreds of synthetic callers share a handful of utterances
def speech_like(seconds: float, *, rate: int = INPUT_RATE, pitch_hz: float = 140.0, amplitude: float = 0.5) -> bytes:
    """`seconds` of a voiced tone (fundamental + 3 harmonics) with ~4 syllables per second, as s16le mono PCM.

    The syllable envelope never drops to zero inside the burst, so an energy VAD sees one continuous utterance.
    """
    n = int(seconds * rate)
    samples = bytearray()
    for i in range(n):
        t = i / rate
        syllable = 0.65 + 0.35 * math.sin(2 * math.pi * 4.0 * t) ** 2
        fade = min(1.0, t / 0.02, (seconds - t) / 0.02)  # 20 ms ramps: no clicks at the edges
        wobble = pitch_hz * (1 + 0.05 * math.sin(2 * math.pi * 3.0 * t))
        value = sum(math.sin(2 * math.pi * wobble * k * t) / k for k in (1, 2, 3, 4))
        samples += struct.pack("<h", int(max(-1.0, min(1.0, amplitude * syllable * fade * value / 2.1)) * 32767))
    return bytes(samples)


def silence(seconds: float, *, rate: int = INPUT_RATE) -> bytes:
    """`seconds` of digital silence as s16le mono PCM."""
    return b"\x00\x00" * int(seconds * rate)


def frames(pcm: bytes, frame_bytes: int) -> list[bytes]:
    """Split PCM into frames of `frame_bytes` (even), the last one possibly shorter."""
    if frame_bytes <= 0 or frame_bytes % 2:
        raise ValueError("frame_bytes must be a positive even number")
    return [pcm[i:i + frame_bytes] for i in range(0, len(pcm), frame_bytes)]


def bursts(pattern: Sequence[tuple[float, float]], *, rate: int = INPUT_RATE) -> bytes:
    """A sequence of (speech seconds, silence seconds) pairs as one PCM stream."""
    out = bytearray()
    for speech_s, pause_s in pattern:
        if speech_s > 0:
            out += speech_like(speech_s, rate=rate)
        out += silence(pause_s, rate=rate)
    return bytes(out)


def wav_bytes(pcm: bytes, *, rate: int) -> bytes:
    """Wrap s16le mono PCM in a RIFF/WAVE container."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buf.getvalue()


def write_wav(path: Path, pattern: Sequence[tuple[float, float]], *, rate: int = 48_000) -> Path:
    """Write a 16-bit PCM WAV of speech bursts separated by silences (the browser test's fake microphone)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(wav_bytes(bursts(pattern, rate=rate), rate=rate))
    return path
