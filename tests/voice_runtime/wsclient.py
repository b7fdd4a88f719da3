"""A tiny protocol client and a running-server context for the WebSocket tests."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from emulators.inprocess import EmulatedBackendSettings, emulated_factories, latency_knob
from registry.compiled import CompiledRegistry
from registry.model import Backend
from tests.voice_runtime.support import BASELINE, NS, namespace_values
from voice_runtime.metrics import InMemorySink
from voice_runtime.registry_client import RegistryClient
from voice_runtime.server import VoiceServer, create_server
from voice_runtime.settings import RuntimeSettings

FRAME = bytes(640)  # 20 ms of 16 kHz s16le silence
FAST = EmulatedBackendSettings(latency="fixed", latency_p50_ms=5, reply_seconds=0.3, chunk_ms=50, realtime=False)


@asynccontextmanager
async def running(
    compiled: CompiledRegistry,
    *,
    phase: str = "Phase1_Week1",
    values: dict[str, str] | None = None,
    fetch: Callable[[], dict[str, str]] | None = None,
    emulated: frozenset[Backend] = frozenset({Backend.M1_PIPELINE, Backend.NOVA_SONIC, Backend.CSM_SAGEMAKER}),
    emulated_settings: EmulatedBackendSettings = FAST,
    per_backend: dict[Backend, EmulatedBackendSettings] | None = None,
    **overrides: Any,
) -> AsyncIterator[tuple[VoiceServer, InMemorySink]]:
    """A started runtime whose `emulated` backends are the in-process emulated backend (`emulated_settings`, or a
    backend's own entry of `per_backend`), serving `values` (default: the registry at `phase`)."""
    settings = RuntimeSettings(port=0, **overrides)
    data = values if values is not None else namespace_values(compiled, phase)
    registry = RegistryClient(fetch or (lambda: data), namespace=NS, fallback_baseline=BASELINE,
                              timeout=settings.ssm_timeout_seconds)
    sink = InMemorySink()
    factories = emulated_factories(per_backend, emulated_settings, backends=emulated)
    server = create_server(settings, registry, sink, factories=factories)
    server.routes["/admin/emulated"] = latency_knob(server.adapters.get)
    await server.start()
    try:
        yield server, sink
    finally:
        await server.stop()


BARRIER = {"type": "pong", "id": "barrier"}


async def barrier(ws: ClientConnection) -> None:
    """Return once the session has handled every frame sent before: it answers this ping in order (or it closed
    the connection first, which raises ConnectionClosed)."""
    await ws.send(json.dumps({"type": "ping", "id": "barrier"}))
    while True:
        message = await ws.recv()
        if isinstance(message, str) and json.loads(message) == BARRIER:
            return


def url(server: VoiceServer) -> str:
    return f"ws://127.0.0.1:{server.port}/ws"


async def recv_json(ws: ClientConnection) -> dict[str, Any]:
    """The next text message (binary frames before it are skipped)."""
    while True:
        message = await ws.recv()
        if isinstance(message, str):
            return dict(json.loads(message))


async def open_session(ws: ClientConnection, subject: str = "user-1", **fields: Any) -> dict[str, Any]:
    await ws.send(json.dumps({"type": "start", "subject": subject, **fields}))
    return await recv_json(ws)


async def turn(ws: ClientConnection, frames: int = 5, frame: bytes = FRAME) -> tuple[list[dict[str, Any]], bytes]:
    """Speak `frames` frames, end the turn, collect everything until turn_end: (text messages, output audio)."""
    for _ in range(frames):
        await ws.send(frame)
    await ws.send(json.dumps({"type": "end_turn"}))
    return await until_turn_end(ws)


async def until_turn_end(ws: ClientConnection) -> tuple[list[dict[str, Any]], bytes]:
    messages: list[dict[str, Any]] = []
    audio = bytearray()
    while True:
        message = await ws.recv()
        if isinstance(message, bytes):
            audio += message
            continue
        data = json.loads(message)
        messages.append(data)
        if data["type"] == "turn_end":
            return messages, bytes(audio)


__all__ = ["FAST", "FRAME", "connect", "open_session", "recv_json", "running", "turn", "until_turn_end", "url"]
