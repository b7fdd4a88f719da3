"""A synthetic caller: one WebSocket conversation of N turns against a runtime, per docs/protocol.md.

The demo and the load test run tens to hundreds of these at once. Each turn streams a short speech-like
utterance (16 kHz PCM, paced in real time unless told otherwise), sends `end_turn`, and measures the client-side
TTFA as the memo defines it: first output audio frame received minus the last user audio frame sent.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from embedded.audio import frames, speech_like

MAX_MESSAGE_BYTES = 32_768


@dataclass(frozen=True)
class TurnResult:
    """What a synthetic caller saw of one turn (times in ms; `at_s` is seconds since the run's origin)."""

    session: str
    subject: str
    turn: int
    at_s: float
    variant: str | None
    client_ttfa_ms: float | None
    server_ttfa_ms: float | None = None
    model_latency_ms: float | None = None
    reason: str = "end_turn"
    error: str | None = None
    retried_on_baseline: bool = False
    audio_out_bytes: int = 0
    phase: str | None = None
    internal: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None and self.reason != "error"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CallerSpec:
    """How one synthetic caller behaves."""

    subject: str
    turns: int
    internal: bool = False
    sdk_version: str | None = "2.3.0"
    utterance_s: float = 0.6
    frame_ms: int = 100
    realtime: bool = True  # pace input frames at speaking speed (TTFA is measured from the last frame either way)
    think_s: float = 0.2  # pause between the end of a reply and the next utterance
    turn_timeout_s: float = 20.0
    token: str | None = None
    barge_in_every: int = 0  # barge in on every Nth turn (0: never)


@dataclass
class _TurnState:
    variant: str | None = None
    phase: str | None = None
    last_frame_at: float = 0.0
    first_audio_at: float | None = None
    audio_bytes: int = 0
    errors: list[str] = field(default_factory=list)


Clock = Callable[[], float]


async def _send_utterance(ws: ClientConnection, pcm_frames: list[bytes], spec: CallerSpec, clock: Clock) -> float:
    last = clock()
    for i, frame in enumerate(pcm_frames):
        await ws.send(frame)
        last = clock()
        if spec.realtime and i < len(pcm_frames) - 1:
            await asyncio.sleep(spec.frame_ms / 1000)
    return last


async def _one_turn(ws: ClientConnection, spec: CallerSpec, n: int, pcm_frames: list[bytes], clock: Clock,
                    timeline: Clock, origin: float, session_id: str) -> TurnResult:
    state = _TurnState()
    started = timeline()
    state.last_frame_at = await _send_utterance(ws, pcm_frames, spec, clock)
    await ws.send(json.dumps({"type": "end_turn"}))
    barge = spec.barge_in_every > 0 and n % spec.barge_in_every == 0
    end: dict[str, Any] | None = None
    async with asyncio.timeout(spec.turn_timeout_s):
        async for message in ws:
            now = clock()
            if isinstance(message, bytes):
                if state.first_audio_at is None:
                    state.first_audio_at = now
                    if barge:  # talk over the reply as soon as it starts
                        await ws.send(json.dumps({"type": "barge_in"}))
                state.audio_bytes += len(message)
                continue
            data = json.loads(message)
            kind = data.get("type")
            if kind == "turn_start":
                state.variant = data.get("variant")
                state.phase = (data.get("registry") or {}).get("phase")
            elif kind == "error":
                state.errors.append(str(data.get("code")))
            elif kind == "turn_end":
                end = data
                break
    if end is None:
        raise ConnectionClosed(None, None)
    timings = end.get("timings") or {}
    ttfa = (state.first_audio_at - state.last_frame_at) * 1000 if state.first_audio_at is not None else None
    reason = str(end.get("reason", "end_turn"))
    error = state.errors[-1] if reason == "error" and state.errors else ("backend_error" if reason == "error" else None)
    return TurnResult(
        session=session_id, subject=spec.subject, turn=n, at_s=round(started - origin, 4),
        variant=end.get("variant") or state.variant, client_ttfa_ms=None if ttfa is None else max(ttfa, 0.0),
        server_ttfa_ms=timings.get("ttfa_ms"), model_latency_ms=timings.get("model_latency_ms"), reason=reason,
        error=error, retried_on_baseline=bool(end.get("retried_on_baseline")), audio_out_bytes=state.audio_bytes,
        phase=state.phase, internal=spec.internal,
    )


async def converse(url: str, spec: CallerSpec, *, clock: Clock = time.perf_counter, origin: float | None = None,
                   on_turn: Callable[[TurnResult], None] | None = None,
                   should_stop: Callable[[], bool] | None = None, timeline: Clock | None = None) -> list[TurnResult]:
    """Run one caller's conversation; every turn (or the failure that ended the session) becomes a TurnResult.

    `clock` measures TTFA; `timeline` (default: `clock`) stamps each turn's `at_s`, seconds since `origin`, e.g.
    the embedded stack's clock when it runs faster than real time.

    Never raises for a server-side problem: a refused connection or a dropped session is recorded as errored turns,
    because a load test counts errors rather than stopping at the first.
    """
    timeline = timeline or clock
    origin = timeline() if origin is None else origin
    pcm_frames = frames(speech_like(spec.utterance_s), spec.frame_ms * 32)
    results: list[TurnResult] = []
    session_id = "?"

    def record(result: TurnResult) -> None:
        results.append(result)
        if on_turn is not None:
            on_turn(result)

    try:
        async with connect(url, max_size=MAX_MESSAGE_BYTES, open_timeout=10, close_timeout=2) as ws:
            await ws.send(json.dumps({"type": "start", "subject": spec.subject, "sdk_version": spec.sdk_version,
                                      "internal": spec.internal, "token": spec.token}))
            async with asyncio.timeout(10):
                while True:
                    first = json.loads(await ws.recv())
                    if first.get("type") == "session":
                        session_id = str(first.get("session_id"))
                        break
                    if first.get("type") == "error" and first.get("fatal"):
                        raise ConnectionError(str(first.get("code")))
            for n in range(1, spec.turns + 1):
                if should_stop is not None and should_stop():
                    break
                record(await _one_turn(ws, spec, n, pcm_frames, clock, timeline, origin, session_id))
                if spec.think_s > 0:
                    await asyncio.sleep(spec.think_s)
    except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError, ConnectionError, ValueError) as exc:
        code = type(exc).__name__ if not str(exc) else f"{type(exc).__name__}: {str(exc)[:80]}"
        record(TurnResult(session=session_id, subject=spec.subject, turn=len(results) + 1,
                          at_s=round(timeline() - origin, 4), variant=None, client_ttfa_ms=None, reason="error",
                          error=code, internal=spec.internal))
    return results
