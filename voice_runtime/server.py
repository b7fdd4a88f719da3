"""The WebSocket server (websockets' asyncio implementation): the thin shell around `VoiceSession`.

Per connection: a reader loop feeds the session, a sender task pumps its outbox; the idle timeout, the session
age limit and the close codes of docs/protocol.md are applied here. Stopping is two bounded steps
(docs/reliability.md): `drain` refuses new sessions (503, /healthz too) and closes each session with 1012 at its
turn boundary; `stop` then closes what is left, the backends and the metrics sinks within `shutdown_seconds`.
Plain HTTP GETs on the same port serve /healthz, the browser client's static files (voice_runtime/web/) and any
admin routes its composer adds (the embedded stack adds the emulated backends' latency knob; a route needs the
internal token when one is set).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import mimetypes
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from registry.model import Backend
from voice_runtime.adapters.table import AdapterTable, Factory
from voice_runtime.background import call_in_thread
from voice_runtime.metrics import MetricsSink
from voice_runtime.outbox import SlowConsumer
from voice_runtime.protocol import RECONNECT_REASON, CloseCode
from voice_runtime.registry_client import RegistryClient
from voice_runtime.session import VoiceSession
from voice_runtime.settings import RuntimeSettings

log = logging.getLogger(__name__)

DEFAULT_WEB_DIR = Path(__file__).resolve().parent / "web"
CLOSE_TIMEOUT = 2.0


def _response(status: HTTPStatus, body: bytes, content_type: str) -> Response:
    headers = Headers([("Content-Type", content_type), ("Content-Length", str(len(body))),
                       ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")])
    return Response(status.value, status.phrase, headers, body)


def _json(status: HTTPStatus, payload: object) -> Response:
    return _response(status, json.dumps(payload, default=str).encode(), "application/json")


# An admin GET endpoint added by the runtime's composer: query -> (HTTP status, JSON payload).
AdminRoute = Callable[[Mapping[str, list[str]]], tuple[int, object]]

# The M1 pipeline's SSE endpoint paths (memo Phase 4: they answer 410 Gone once the SSE variant is deprecated).
LEGACY_SSE_PATHS = ("/sse", "/voice/sse")


class VoiceServer:
    """Owns the sessions of one runtime process and the websockets server serving them."""

    def __init__(
        self,
        settings: RuntimeSettings,
        *,
        registry: RegistryClient,
        adapters: AdapterTable,
        metrics: MetricsSink,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.adapters = adapters
        self.metrics = metrics
        self.clock = clock
        self.wall = wall
        self.sessions: dict[str, VoiceSession] = {}
        self.web_dir = settings.web_dir or DEFAULT_WEB_DIR
        self.server: Server | None = None
        self._refresher: asyncio.Task[None] | None = None
        self.connections_total = 0
        self.routes: dict[str, AdminRoute] = {}
        self.draining = False
        self._emptied = asyncio.Event()

    # --- lifecycle -------------------------------------------------------------------------------------------------

    async def start(self, *, refresh: bool = True) -> None:
        """Fetch the registry once (bounded by the SSM timeout), start the refresh loop, listen."""
        if refresh:
            await self.registry.refresh()
            self._refresher = asyncio.get_running_loop().create_task(self.registry.run())
        s = self.settings
        self.server = await serve(
            self.handler, s.host, s.port,
            process_request=self.process_request,
            max_size=s.max_message_bytes,
            ping_interval=s.heartbeat_seconds,
            ping_timeout=s.ping_timeout_seconds,
            close_timeout=CLOSE_TIMEOUT,
            compression=None,  # PCM barely compresses, and inflating is a decompression-bomb surface
            max_queue=64,
        )

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def drain(self, timeout: float) -> int:
        """Stop taking sessions (upgrades and /healthz answer 503) and close each session with 1012 at its turn
        boundary; after `timeout` seconds close the rest with 1012 as well. Returns how many sessions had to be
        closed at the deadline, mid-turn."""
        self.draining = True
        for session in list(self.sessions.values()):
            session.drain()
        if self.sessions:
            self._emptied.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._emptied.wait(), timeout)
        cut = list(self.sessions.values())
        for session in cut:
            session.request_close(CloseCode.SERVICE_RESTART, RECONNECT_REASON)
        if cut:
            log.warning("drain: %d sessions still in a turn after %gs, closed with 1012", len(cut), timeout)
        return len(cut)

    async def stop(self, timeout: float | None = None) -> None:
        """Close what is left (1001), the backends and the metrics sinks, in `timeout` seconds at most (default:
        the settings' shutdown_seconds): whatever still hangs then is left to its daemon thread."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (self.settings.shutdown_seconds if timeout is None else timeout)

        def left() -> float:
            return max(0.0, deadline - loop.time())

        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        steps: list[tuple[str, Callable[[], Awaitable[object]]]] = [
            ("closing connections", self._close_server),
            ("closing backends", self.adapters.aclose),
            ("flushing metrics", lambda: self._drain_metrics(left())),
        ]
        for what, step in steps:
            try:
                await asyncio.wait_for(step(), left())
            except TimeoutError:
                log.warning("shutdown: %s did not finish within the shutdown bound; going on", what)
            except Exception:
                log.exception("shutdown: %s failed", what)

    async def _close_server(self) -> None:
        if self.server is not None:
            self.server.close(close_connections=True)
            await self.server.wait_closed()

    async def _drain_metrics(self, timeout: float) -> None:
        self.metrics.flush()
        drain = getattr(self.metrics, "drain", None)
        if drain is not None and not await call_in_thread(lambda: drain(timeout), name="metrics-drain"):
            log.warning("shutdown: metrics sinks still writing after %.1fs; their backlog is dropped", timeout)

    # --- WebSocket connections -------------------------------------------------------------------------------------

    async def handler(self, ws: ServerConnection) -> None:
        session = VoiceSession(settings=self.settings, registry=self.registry, adapters=self.adapters,
                               metrics=self.metrics, clock=self.clock, wall=self.wall)
        self.sessions[session.session_id] = session
        self.connections_total += 1
        sender = asyncio.get_running_loop().create_task(self._sender(ws, session))
        try:
            await self._reader(ws, session, sender)
        except ConnectionClosed:
            pass
        except Exception:  # a bug in one session must not reach the others or the server
            log.exception("session %s crashed", session.session_id)
            await self._close(ws, CloseCode.INTERNAL, "internal error")
        finally:
            sender.cancel()
            with contextlib.suppress(BaseException):
                await sender
            await session.aclose()
            self.sessions.pop(session.session_id, None)
            if not self.sessions:
                self._emptied.set()

    async def _reader(self, ws: ServerConnection, session: VoiceSession, sender: asyncio.Task[None]) -> None:
        idle = self.settings.idle_timeout_seconds
        max_age = self.settings.max_session_seconds
        if self.draining:
            session.drain()  # accepted just before the drain began
        while not sender.done():
            now = self.clock()
            quiet = now - session.last_activity
            wait = idle if session.busy else max(0.01, idle - quiet)
            if max_age is not None and not session.draining:
                if now - session.opened_at >= max_age:
                    session.drain()  # old enough: reconnect at the next turn boundary (docs/protocol.md)
                else:
                    wait = min(wait, max(0.01, session.opened_at + max_age - now))
            try:
                message = await asyncio.wait_for(ws.recv(), wait)
            except TimeoutError:
                if not session.busy and self.clock() - session.last_activity >= idle:
                    await self._close(ws, CloseCode.IDLE_TIMEOUT, "idle timeout")
                    return
                continue
            if isinstance(message, str):
                session.on_text(message)
            else:
                session.on_binary(message)

    async def _sender(self, ws: ServerConnection, session: VoiceSession) -> None:
        try:
            close = await session.pump(ws.send)
        except SlowConsumer as exc:
            log.info("session %s: %s", session.session_id, exc)
            close = (CloseCode.SLOW_CONSUMER, "slow consumer")
        except ConnectionClosed:
            return
        if close is not None:
            await self._close(ws, *close)

    @staticmethod
    async def _close(ws: ServerConnection, code: int, reason: str) -> None:
        """Close with a code; a client that does not read never lets the close frame drain, so abort it then."""
        try:
            await asyncio.wait_for(ws.close(code, reason), CLOSE_TIMEOUT + 1)
        except TimeoutError:
            ws.transport.abort()
        except Exception:
            log.debug("closing a connection failed", exc_info=True)

    # --- plain HTTP ------------------------------------------------------------------------------------------------

    def process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        """Upgrade WebSocket requests; answer plain GETs (health, knob, static files) directly."""
        if request.headers.get("Upgrade", "").lower() == "websocket":
            if self.draining:
                # Going away: the client reconnects, and the load balancer sends it to another task.
                response = _json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "draining, reconnect"})
                response.headers["Retry-After"] = "0"
                return response
            if len(self.sessions) >= self.settings.max_sessions:
                # Shed load at the handshake: existing sessions keep their share of this process.
                return _json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "too many sessions, retry later"})
            return None
        url = urlsplit(request.path)
        if url.path == "/healthz":
            # 503 while draining: a load balancer health check takes the task out of rotation.
            return _json(HTTPStatus.SERVICE_UNAVAILABLE if self.draining else HTTPStatus.OK, self.health())
        route = self.routes.get(url.path)
        if route is not None:
            return self._admin(route, parse_qs(url.query))
        if url.path in LEGACY_SSE_PATHS:
            return self._legacy_sse(f"ws://{request.headers.get('Host', 'localhost')}/ws")
        return self._static(url.path)

    def _legacy_sse(self, websocket_url: str) -> Response:
        """The M1 SSE path after the memo's Phase 4: 410 Gone with upgrade instructions once every SSE variant is
        deprecated (in the registry or by `voicectl decommission run`); until then it is not served here (SSE turns
        are the M1 stack's own: `m1_pipeline.sse_turn_handler` is the ASGI handler for it)."""
        from voice_runtime.adapters.m1_pipeline import gone_response  # imports the M1 SDKs: only when asked

        state = self.registry.state
        compiled = state.registry if state else None
        sse: list[str] = []
        dead: list[str] = []
        if state is not None and compiled is not None:
            sse = sorted(n for n, v in compiled.variants.items() if v.transport == "sse")
            dead = [n for n in sse if compiled.variants[n].deprecated or n in state.deprecated]
        if sse and dead == sse:
            status, headers, body = gone_response(dead[0], websocket_url)
            response = _response(HTTPStatus(status), body, "application/json")
            for name, value in headers:
                if name.lower() not in (b"content-type", b"cache-control"):
                    response.headers[name.decode()] = value.decode()
            return response
        return _json(HTTPStatus.NOT_FOUND, {"error": "SSE turns are served by the M1 stack, not this runtime",
                                            "sse_variants": sse, "websocket": websocket_url})

    def health(self) -> dict[str, object]:
        stats = getattr(self.metrics, "stats", None)
        return {"ok": not self.draining, "draining": self.draining, "sessions": len(self.sessions),
                "connections_total": self.connections_total,
                "registry": self.registry.status().to_json(), "adapters": self.adapters.loaded(),
                "adapter_errors": {b.value: e for b, e in self.adapters.load_errors.items()},
                "metrics": stats() if stats is not None else {}}

    def _admin(self, route: AdminRoute, query: dict[str, list[str]]) -> Response:
        expected = self.settings.internal_token
        if expected is not None and not secrets.compare_digest(query.get("token", [""])[0], expected):
            return _json(HTTPStatus.FORBIDDEN, {"error": "token required"})
        status, payload = route(query)
        return _json(HTTPStatus(status), payload)

    def _static(self, path: str) -> Response:
        root = self.web_dir.resolve()
        if not root.is_dir():
            return _json(HTTPStatus.NOT_FOUND, {"error": "no browser client here; connect a WebSocket to /ws"})
        target = (root / path.lstrip("/")).resolve()
        if target.is_dir():
            target = target / "index.html"
        if not target.is_relative_to(root) or not target.is_file():
            return _json(HTTPStatus.NOT_FOUND, {"error": "not found"})
        content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        return _response(HTTPStatus.OK, target.read_bytes(), content_type)


def create_server(
    settings: RuntimeSettings,
    registry: RegistryClient,
    metrics: MetricsSink,
    *,
    factories: Mapping[Backend, Factory | str] | None = None,
    routes: Mapping[str, AdminRoute] | None = None,
    clock: Callable[[], float] = time.monotonic,
    wall: Callable[[], float] = time.time,
) -> VoiceServer:
    """Compose a server from its parts (the CLI, the embedded stack and tests all build it here): `factories`
    replace adapter-table entries, `routes` add admin GET endpoints (path -> route)."""
    adapters = AdapterTable(settings, factories)
    server = VoiceServer(settings, registry=registry, adapters=adapters, metrics=metrics, clock=clock, wall=wall)
    server.routes.update(routes or {})
    return server
