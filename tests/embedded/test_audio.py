"""Synthetic speech: deterministic PCM of the right length, frames, and a WAV Chromium can read."""

from __future__ import annotations

import array
import wave
from pathlib import Path

import pytest

from embedded.audio import bursts, frames, speech_like, write_wav


def test_speech_like_is_loud_and_exactly_as_long_as_asked() -> None:
    pcm = speech_like(0.5)
    assert len(pcm) == 0.5 * 16_000 * 2
    samples = array.array("h", pcm)
    rms = (sum(s * s for s in samples) / len(samples)) ** 0.5 / 32768
    assert rms > 0.05  # well above any VAD threshold
    assert speech_like(0.5) == pcm  # deterministic


def test_frames_split_evenly_and_reject_odd_sizes() -> None:
    parts = frames(b"\x01\x00" * 1000, 640)
    assert [len(p) for p in parts] == [640, 640, 640, 80]
    with pytest.raises(ValueError):
        frames(b"\x00\x00", 3)


def test_wav_file_has_the_bursts_and_silences(tmp_path: Path) -> None:
    path = write_wav(tmp_path / "mic.wav", [(0.2, 0.3), (0.1, 0.0)], rate=48_000)
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 48_000)
        assert w.getnframes() == int(0.6 * 48_000)
    silent = bursts([(0.0, 0.1)], rate=48_000)
    assert set(silent) == {0}
