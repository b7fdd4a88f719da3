"""One client conversation, independent of the socket library: a state machine fed with the client's frames
(`on_text`, `on_binary`) that writes its answers into a bounded `Outbox`; `pump` sends them out.

Per turn: resolve the variant (registry client -> assignment table, never waiting on SSM), run the backend
session of that variant (kept across turns, reopened when the variant changes), forward its audio in frames under
the size limit, retry once on the baseline when the backend fails before any audio went out, and finish with a
`turn_end` whose timings are stamped by the sender (TTFA counts from when the first frame actually left).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from registry.assignment import Subject
from registry.compiled import CompiledVariant
from voice_runtime import protocol
from voice_runtime.adapters.base import (
    AudioChunk,
    BackendError,
    BackendSession,
    SessionContext,
    Transcript,
    TurnEnd,
)
from voice_runtime.adapters.table import AdapterTable
from voice_runtime.metrics import MetricsSink
from voice_runtime.outbox import Item, Outbox, SlowConsumer
from voice_runtime.protocol import CloseCode, ErrorCode, ProtocolError
from voice_runtime.registry_client import RegistryClient
from voice_runtime.settings import RuntimeSettings
from voice_runtime.turns import Attempt, Turn, samples, turn_end_message

log = logging.getLogger(__name__)

BYTES_PER_INPUT_SECOND = 32_000
MAX_FRAMES_PER_SECOND = 100
CLOSE_BACKEND_TIMEOUT = 2.0


REPLY_GRACE_SECONDS = 60  # a reply may take this much longer than the longest utterance before it fails

Send = Callable[[str | bytes], Awaitable[None]]


def reply_deadline(settings: RuntimeSettings) -> float:
    """Seconds from end_turn until a reply that has not finished fails the turn (docs/protocol.md)."""
    return settings.max_turn_seconds + REPLY_GRACE_SECONDS


def longest_turn(settings: RuntimeSettings) -> float:
    """Seconds from a turn's first audio frame to its turn_end, at most: the utterance, then the reply."""
    return settings.max_turn_seconds + reply_deadline(settings)


class VoiceSession:
    """One conversation: see the module docstring."""

    def __init__(
        self,
        *,
        settings: RuntimeSettings,
        registry: RegistryClient,
        adapters: AdapterTable,
        metrics: MetricsSink,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        session_id: str | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.adapters = adapters
        self.metrics = metrics
        self.clock = clock
        self.wall = wall
        self.session_id = session_id or secrets.token_hex(6)
        self.outbox = Outbox(settings.send_queue_frames)
        self.subject: Subject | None = None
        self.turn: Turn | None = None
        self.turns = 0
        self.errors = 0
        self.opened_at = self.last_activity = clock()
        self.closing: tuple[int, str] | None = None
        self.draining = False
        self._pending: list[tuple[str, bytes | None]] = []
        self._backends: dict[str, BackendSession] = {}
        self._turn_task: asyncio.Task[None] | None = None
        self._deadline: asyncio.Timeout | None = None
        self._finalized: set[int] = set()

    # --- client input ----------------------------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        """The server is replying: the client may legitimately stay silent (no idle timeout meanwhile). A client
        that goes silent in the middle of its own utterance is idle."""
        return self.turn is not None and not self.turn.listening

    def on_text(self, text: str) -> None:
        """Handle one text frame (never raises: errors become error frames or a close)."""
        if self.closing is not None:
            return  # a close is on its way: nothing the client says now changes anything
        self.last_activity = self.clock()
        try:
            message = protocol.parse_text(text)
            if isinstance(message, protocol.StartMessage):
                self._on_start(message)
            elif self.subject is None:
                raise ProtocolError(ErrorCode.WRONG_ORDER, "the first message must be start", fatal=True)
            elif message.type == "ping":
                self._send({"type": "pong", "id": message.id})
            elif message.type == "end_turn":
                self._on_end_turn()
            elif message.type == "barge_in":
                self._on_barge_in()
        except ProtocolError as exc:
            if self.subject is None and exc.code != ErrorCode.UNAUTHORIZED:
                exc.fatal = True  # nothing but a valid start is acceptable first
            self._protocol_error(exc)

    def on_binary(self, data: bytes) -> None:
        """Handle one binary (audio) frame."""
        if self.closing is not None:
            return
        self.last_activity = self.clock()
        try:
            self._on_audio(data)
        except ProtocolError as exc:
            self._protocol_error(exc)

    def _on_start(self, message: protocol.StartMessage) -> None:
        if self.subject is not None:
            raise ProtocolError(ErrorCode.WRONG_ORDER, "start was already received")
        internal = message.internal
        expected = self.settings.internal_token
        if expected is not None:
            if message.token is not None and not secrets.compare_digest(message.token, expected):
                raise ProtocolError(ErrorCode.UNAUTHORIZED, "invalid token", fatal=True)
            if internal and message.token is None:
                raise ProtocolError(ErrorCode.UNAUTHORIZED, "internal sessions need a token", fatal=True)
            internal = internal or message.token is not None
        self.subject = Subject.of(message.subject, internal=internal, sdk_version=message.sdk_version)
        s = self.settings
        self._send(protocol.session_message(
            session_id=self.session_id, subject=message.subject, internal=internal,
            max_message_bytes=s.max_message_bytes, max_output_frame_bytes=s.max_output_frame_bytes,
            max_turn_seconds=s.max_turn_seconds, heartbeat_seconds=s.heartbeat_seconds,
            idle_timeout_seconds=s.idle_timeout_seconds,
        ))

    def _on_audio(self, data: bytes) -> None:
        if self.subject is None:
            raise ProtocolError(ErrorCode.WRONG_ORDER, "audio before start", fatal=True)
        if len(data) % 2:
            raise ProtocolError(ErrorCode.INVALID_AUDIO, f"audio frame of {len(data)} bytes: s16le needs an even size")
        turn = self.turn
        if turn is not None and turn.barged:
            self._pending.append(("audio", data))  # the next turn's first words: held until this one ended
            return
        if turn is not None and not turn.listening:
            raise ProtocolError(ErrorCode.WRONG_ORDER, "audio while the server is replying: send barge_in first",
                                )
        if turn is None:
            turn = self._start_turn()
        turn.feed.append(data)
        turn.last_audio_at = self.clock()
        limit = self.settings.max_turn_seconds
        # Bytes bound the audio; the frame count bounds a flood of tiny frames (10 ms frames at the least).
        if turn.feed.bytes > limit * BYTES_PER_INPUT_SECOND or len(turn.feed.frames) > limit * MAX_FRAMES_PER_SECOND:
            self._on_end_turn()
            raise ProtocolError(ErrorCode.TURN_TOO_LONG,
                                f"turn longer than {self.settings.max_turn_seconds:g}s: ended by the server")

    def _on_end_turn(self) -> None:
        turn = self.turn
        if turn is not None and turn.barged:
            self._pending.append(("end_turn", None))
            return
        if turn is None or not turn.listening:
            raise ProtocolError(ErrorCode.WRONG_ORDER, "end_turn without audio in the current turn")
        turn.end_turn_at = self.clock()
        turn.feed.close()
        self._reschedule(reply_deadline(self.settings))

    def _on_barge_in(self) -> None:
        turn = self.turn
        if turn is None or turn.listening:
            raise ProtocolError(ErrorCode.WRONG_ORDER, "barge_in while no reply is playing")
        if turn.barged:
            return
        turn.barge_at = self.clock()
        turn.reason = "interrupted"
        turn.frames_dropped += self.outbox.drop_audio(turn)
        self._reschedule(self.settings.barge_in_deadline_ms / 1000)
        backend = self._backends.get(turn.served_by)
        if backend is not None:
            asyncio.get_running_loop().create_task(self._tell_backend(backend))

    async def _tell_backend(self, backend: BackendSession) -> None:
        try:
            await backend.barge_in()
        except Exception:  # the deadline decides whether the backend honoured it
            log.exception("backend barge_in failed in session %s", self.session_id)

    def _protocol_error(self, exc: ProtocolError) -> None:
        self.errors += 1
        fatal = exc.fatal or self.errors > self.settings.max_errors
        code = exc.code if exc.fatal or not fatal else ErrorCode.TOO_MANY_ERRORS
        message = exc.message if code == exc.code else f"more than {self.settings.max_errors} protocol errors"
        turn_id = self.turn.turn_id if self.turn else None
        self._send(protocol.error(code, message, fatal=fatal, turn_id=turn_id))
        if fatal:
            self.request_close(exc.close_code if exc.fatal else CloseCode.POLICY, code.value)

    def drain(self) -> None:
        """Close with 1012 (reconnect) at the next turn boundary: at once when no turn is in flight, else once
        its turn_end is queued (the reply the user is hearing finishes first)."""
        self.draining = True
        if self.turn is None:
            self.request_close(CloseCode.SERVICE_RESTART, protocol.RECONNECT_REASON)

    def request_close(self, code: int, reason: str) -> None:
        """Close after what is queued (the first request wins; later ones change nothing)."""
        if self.closing is None:
            self.closing = (code, reason)
            self.outbox.put_close(Item("close", (code, reason)))

    def _send(self, message: dict[str, Any]) -> None:
        try:
            self.outbox.put(Item("text", protocol.dumps(message)))
        except SlowConsumer:  # answers pile up faster than the client reads them: close now (docs/protocol.md)
            log.info("session %s: send queue overflowed on a control frame", self.session_id)
            self.request_close(CloseCode.SLOW_CONSUMER, "slow consumer")

    # --- turns -----------------------------------------------------------------------------------------------------

    def _config(self, variant: str, config: CompiledVariant | None) -> CompiledVariant:
        return config or CompiledVariant(backend=self.settings.fallback_backend, transport="websocket")

    def _start_turn(self) -> Turn:
        assert self.subject is not None
        table = self.registry.table()
        variant = table.assign(self.subject)
        config = self._config(variant, table.config(variant))
        self.turns += 1
        turn = Turn(index=self.turns, turn_id=f"{self.session_id}-{self.turns}", variant=variant,
                    backend=config.backend.value, started_at=self.clock())
        self.turn = turn
        status = self.registry.status()
        self._send({
            "type": "turn_start", "turn_id": turn.turn_id, "turn": turn.index, "variant": variant,
            "backend": turn.backend,
            "registry": {"digest": status.digest, "phase": status.phase,
                         "age_s": None if status.age_seconds is None else round(status.age_seconds, 3),
                         "stale": status.stale},
        })
        baseline = (table.baseline, self._config(table.baseline, table.config(table.baseline)))
        self._turn_task = asyncio.get_running_loop().create_task(self._run_turn(turn, config, baseline))
        return turn

    async def _run_turn(self, turn: Turn, config: CompiledVariant, baseline: tuple[str, CompiledVariant]) -> None:
        for variant in list(self._backends):
            if variant != turn.variant:
                await self._drop_backend(variant)
        plan = [(turn.variant, config)]
        try:
            while plan:
                variant, cfg = plan.pop(0)
                attempt = Attempt(variant, cfg.backend.value)
                turn.attempts.append(attempt)
                try:
                    await self._attempt(turn, variant, cfg)
                    attempt.ok = True
                except asyncio.CancelledError:
                    turn.attempts.remove(attempt)  # the client left mid-turn: not the backend's failure
                    turn.reason = "cancelled"
                    raise
                except SlowConsumer:
                    attempt.ok = True  # the client's fault, not the backend's
                    self.request_close(CloseCode.SLOW_CONSUMER, "slow consumer")
                except Exception as exc:  # BackendError or a backend bug: the session must go on
                    attempt.error = f"{type(exc).__name__}: {exc}"
                    log.warning("turn %s failed on %s: %s", turn.turn_id, variant, attempt.error)
                    await self._drop_backend(variant)
                    # Retry only while the user has heard nothing of this reply (nothing produced, so nothing queued).
                    if variant != baseline[0] and turn.first_backend_audio_at is None and not turn.barged:
                        plan.append(baseline)
                        continue
                    turn.reason = "error"
                    self._send(protocol.error(ErrorCode.BACKEND_ERROR, f"the turn failed: {attempt.error}",
                                              turn_id=turn.turn_id))
        finally:
            turn.ended_at = self.clock()
            self.turn = None
            self._deadline = None
            try:
                self.outbox.put(Item("turn_end", turn=turn))
            except SlowConsumer:
                self.finalize(turn)
                self.request_close(CloseCode.SLOW_CONSUMER, "slow consumer")
            if self.draining:
                self.request_close(CloseCode.SERVICE_RESTART, protocol.RECONNECT_REASON)
        self.last_activity = self.clock()
        self._replay_pending()

    async def _attempt(self, turn: Turn, variant: str, config: CompiledVariant) -> None:
        backend = await self._backend(variant, config)
        try:
            async with asyncio.timeout(None) as deadline:
                self._deadline = deadline
                if turn.barged:
                    self._reschedule(self.settings.barge_in_deadline_ms / 1000)
                elif not turn.listening:
                    self._reschedule(reply_deadline(self.settings))
                await self._forward(turn, backend)
        except TimeoutError as exc:
            if not turn.barged:
                raise BackendError("the backend did not finish its reply in time", code="reply_timeout") from exc
            turn.backend_stopped = False  # it ignored the barge-in: drop it so the next turn starts clean
            await self._drop_backend(variant)

    async def _forward(self, turn: Turn, backend: BackendSession) -> None:
        max_frame = self.settings.max_output_frame_bytes
        events = backend.run_turn(turn.feed.reader())
        try:
            async for event in events:
                if isinstance(event, AudioChunk):
                    if turn.first_backend_audio_at is None:
                        turn.first_backend_audio_at = self.clock()
                    if turn.barged:
                        turn.frames_dropped += 1
                        continue
                    for start in range(0, len(event.pcm), max_frame):
                        await self.outbox.put_audio(Item("audio", event.pcm[start : start + max_frame], turn),
                                                    self.settings.send_timeout_seconds)
                elif isinstance(event, Transcript):
                    if not turn.barged:
                        self._send({"type": "transcript", "turn_id": turn.turn_id, "role": event.role,
                                    "text": event.text, "final": event.final})
                elif isinstance(event, TurnEnd):
                    break
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()
        if turn.barged:
            turn.backend_stopped = True

    def _reschedule(self, seconds: float) -> None:
        if self._deadline is not None:
            self._deadline.reschedule(asyncio.get_running_loop().time() + seconds)

    async def _backend(self, variant: str, config: CompiledVariant) -> BackendSession:
        session = self._backends.get(variant)
        if session is not None:
            return session
        adapter = self.adapters.get(config.backend)
        assert self.subject is not None
        ctx = SessionContext(session_id=self.session_id, subject=self.subject.id, variant=variant, config=config,
                             internal=self.subject.internal, system_prompt=config.system_prompt_key)
        try:
            session = await asyncio.wait_for(adapter.open_session(ctx), self.settings.backend_open_timeout_seconds)
        except TimeoutError as exc:
            raise BackendError(f"opening {config.backend.value} timed out", code="open_timeout") from exc
        self._backends[variant] = session
        return session

    async def _drop_backend(self, variant: str) -> None:
        session = self._backends.pop(variant, None)
        if session is None:
            return
        try:
            await asyncio.wait_for(session.close(), CLOSE_BACKEND_TIMEOUT)
        except Exception:
            log.warning("closing the %s backend session of %s failed", variant, self.session_id, exc_info=True)

    def _replay_pending(self) -> None:
        pending, self._pending = self._pending, []
        for kind, data in pending:
            if kind == "audio" and data is not None:
                self.on_binary(data)
            else:
                self.on_text('{"type":"end_turn"}')

    # --- output ----------------------------------------------------------------------------------------------------

    def finalize(self, turn: Turn) -> dict[str, Any]:
        """The turn_end message, built when everything before it was sent; records the turn's metrics once."""
        message = turn_end_message(turn)
        if turn.index not in self._finalized:
            self._finalized.add(turn.index)
            log.info("turn %s subject=%s variant=%s served_by=%s reason=%s retried=%s timings=%s barge_in=%s",
                     turn.turn_id, self.subject.id if self.subject else "-", turn.variant, turn.served_by,
                     turn.reason, turn.retried, message["timings"], message["barge_in"])
            for sample in samples(turn, self.wall()):
                self.metrics.record(sample)
            self.metrics.flush()
        return message

    async def pump(self, send: Send) -> tuple[int, str] | None:
        """Send queued frames until a close is requested (returned) or sending fails (SlowConsumer raised)."""
        while True:
            item = await self.outbox.get()
            if item.kind == "close":
                code, reason = item.payload
                return int(code), str(reason)
            if item.kind == "audio":
                turn = item.turn
                assert turn is not None
                if turn.barged:
                    turn.frames_dropped += 1
                    continue
                await self._send_within(send, item.payload)
                now = self.clock()
                if turn.first_audio_sent_at is None:
                    turn.first_audio_sent_at = now
                turn.last_audio_sent_at = now
                turn.audio_out_bytes += len(item.payload)
            elif item.kind == "turn_end":
                assert item.turn is not None
                await self._send_within(send, protocol.dumps(self.finalize(item.turn)))
            else:
                await self._send_within(send, item.payload)

    async def _send_within(self, send: Send, data: str | bytes) -> None:
        try:
            await asyncio.wait_for(send(data), self.settings.send_timeout_seconds)
        except TimeoutError as exc:
            raise SlowConsumer(f"a send blocked for {self.settings.send_timeout_seconds:g}s") from exc

    async def aclose(self) -> None:
        """The connection is gone: stop the turn, close backend sessions, record what is left."""
        task = self._turn_task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        for item in self.outbox.drain():
            if item.kind == "turn_end" and item.turn is not None:
                self.finalize(item.turn)
        for variant in list(self._backends):
            await self._drop_backend(variant)
        self.metrics.flush()
