"""The backend emulators on one local TLS endpoint (shared by the adapter tests), fresh behaviour per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from types import SimpleNamespace

import pytest

from emulators.audio import voiced_pcm
from emulators.behaviour import Behaviour, Latency
from emulators.server import EmulatorServer
from registry.compiled import CompiledRegistry
from voice_runtime.adapters.base import SessionContext

FRAME_MS = 20


@pytest.fixture(scope="session")
def emulator_server() -> Iterator[EmulatorServer]:
    with EmulatorServer() as server:
        yield server


@pytest.fixture
def emulators(emulator_server: EmulatorServer) -> EmulatorServer:
    """The shared server with every emulator reset to a fast, fault-free behaviour."""
    e = emulator_server.emulators
    for emulator in (e.nova, e.transcribe, e.converse, e.polly, e.sagemaker):
        emulator.behaviour = Behaviour(latency=Latency(median_ms=5), reply_audio_ms=400)
    e.nova.streams.clear()
    for recorder in (e.converse, e.polly, e.sagemaker):
        recorder.requests.clear()
    return emulator_server


@pytest.fixture
def settings(emulators: EmulatorServer) -> SimpleNamespace:
    """Runtime-like settings pointing every backend at the emulators and trusting their certificate."""
    return SimpleNamespace(backend_endpoint_url=emulators.url, emulator_ca_file=str(emulators.cert.cert_file),
                           region="us-east-1",
                           system_prompts={"voice_persona_v2": "You are the Silent Infinity voice."},
                           turn_timeout_seconds=10.0)


def context(compiled: CompiledRegistry, variant: str, session_id: str = "s-1") -> SessionContext:
    return SessionContext(session_id=session_id, subject="user-1", variant=variant,
                          config=compiled.variants[variant], internal=True)


async def speech(frames: int = 5) -> AsyncIterator[bytes]:
    """A user turn: `frames` x 20 ms of voiced 16 kHz audio."""
    for _ in range(frames):
        yield voiced_pcm(FRAME_MS, 16_000)
