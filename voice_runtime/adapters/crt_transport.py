"""The CRT HTTP/2 transport for the smithy-based AWS SDKs (Bedrock bidirectional stream, Transcribe streaming).

Duplex event streams need HTTP/2, which the SDKs get only from `AWSCRTHTTPClient` (the default aiohttp transport
cannot stream both ways). The stock client always trusts the system store; `trusting_crt_client` can add one PEM
certificate (a local emulator's) so the same code runs against the emulators with verification left on.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import stat
from pathlib import Path
from typing import Any

from awscrt import io as crt_io
from smithy_aws_core.identity import EnvironmentCredentialsResolver
from smithy_core import interfaces as core_interfaces
from smithy_http.aio.crt import AWSCRTHTTPClient, AWSCRTHTTPClientConfig

log = logging.getLogger(__name__)


SDK_VERSION = "smithy-http 0.6.0 (aws-sdk-bedrock-runtime 0.12.0), awscrt 0.32.2"  # revisit the hook on change
NODELAY_COUNTS = {"connections": 0, "sockets": 0, "missed": 0}  # connections hooked, sockets changed, none found


def tcp_sockets() -> dict[int, tuple[int, tuple[str, int] | None]]:
    """This process's TCP sockets: descriptor -> (inode, peer address or None). Linux /proc; empty elsewhere."""
    found: dict[int, tuple[int, tuple[str, int] | None]] = {}
    try:
        descriptors = [int(name) for name in os.listdir("/proc/self/fd")]
    except (OSError, ValueError):
        return found
    for fd in descriptors:
        try:
            info = os.fstat(fd)
        except OSError:
            continue
        if not stat.S_ISSOCK(info.st_mode):
            continue
        try:
            sock = socket.socket(fileno=os.dup(fd))  # owns the duplicate from here on
        except OSError:
            continue
        with sock:
            if sock.type != socket.SOCK_STREAM or sock.family not in (socket.AF_INET, socket.AF_INET6):
                continue
            try:
                peer = sock.getpeername()
            except OSError:
                peer = None
            found[fd] = (info.st_ino, (str(peer[0]), int(peer[1])) if peer else None)
    return found


def set_nodelay_on_new(before: dict[int, tuple[int, tuple[str, int] | None]], port: int) -> int:
    """Set TCP_NODELAY on the TCP sockets opened since `before` (a `tcp_sockets()` snapshot) that are connected to
    `port`; returns how many.

    awscrt 0.32.2 leaves Nagle's algorithm on and has no socket option to turn it off (aws-c-io gained one in July
    2026, not yet exposed in the Python binding). With Nagle on, the small frame that ends a user's turn waits for
    the ACK of the previous one, which the peer may delay ~40 ms: that is straight onto TTFA. The CRT socket is not
    reachable from Python, so the connection's own socket is found as the one that appeared while the SDK
    connected (descriptor and inode new, peer on the URL's port): no DNS lookup, so rotating answers cannot make it
    miss, and sockets of other connections are left alone. The option is set on a duplicate of the descriptor
    (socket options belong to the socket, not the descriptor).
    """
    changed = 0
    for fd, (inode, peer) in tcp_sockets().items():
        if peer is None or peer[1] != port or before.get(fd, (None, None))[0] == inode:
            continue
        try:
            with socket.socket(fileno=os.dup(fd)) as sock:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                changed += 1
        except OSError:
            continue
    return changed


class TrustingCRTHTTPClient(AWSCRTHTTPClient):
    """AWSCRTHTTPClient whose TLS context trusts `ca_pem` instead of the system store (when given)."""

    def __init__(self, ca_pem: bytes | None = None, *, nodelay: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._ca_pem = ca_pem
        self._nodelay = nodelay
        if ca_pem is not None:
            options = crt_io.TlsContextOptions()
            options.override_default_trust_store(ca_pem)
            self._tls_ctx = crt_io.ClientTlsContext(options)

    async def _create_connection(self, url: core_interfaces.URI) -> Any:
        # A hook on the SDK's private connection factory (smithy-http's AWSCRTHTTPClient._create_connection, called
        # once per new connection): measured gain and the version to revisit in docs/backends.md; the tests fail
        # if the SDK stops calling it or the socket stops getting the option.
        if not self._nodelay:
            return await super()._create_connection(url)
        before = await asyncio.to_thread(tcp_sockets)  # descriptor scans off the event loop
        connection = await super()._create_connection(url)
        port = url.port or (self._HTTPS_PORT if url.scheme == "https" else self._HTTP_PORT)
        changed = await asyncio.to_thread(set_nodelay_on_new, before, port)
        NODELAY_COUNTS["connections"] += 1
        NODELAY_COUNTS["sockets"] += changed
        if changed:
            log.info("TCP_NODELAY set on %d socket(s) of the new connection to %s:%s", changed, url.host, port)
        else:
            NODELAY_COUNTS["missed"] += 1
            log.warning("TCP_NODELAY: no socket of the new connection to %s:%s found (%s); Nagle stays on and "
                        "small writes may wait ~40 ms", url.host, port, SDK_VERSION)
        return connection

    def __deepcopy__(self, memo: Any) -> TrustingCRTHTTPClient:
        # The SDK deep-copies its config (and so the transport) per client; keep the trust store and event loop.
        return TrustingCRTHTTPClient(self._ca_pem, nodelay=self._nodelay, eventloop=self._eventloop,
                                     client_config=self._config)


class CrtEventLoop:
    """One CRT event-loop thread (and host resolver) for the transports that share it.

    The stock transport starts a thread per client. Every CRT callback takes the GIL, so each extra thread is one
    more contender for it: measured here with 100 Nova Sonic sessions, relay overhead p50 was 52-62 ms on one
    thread, 68-97 ms on four and 97-141 ms on eight. Connections are cheap to spread (a stream cap, fault
    isolation); threads are not, so the runtime's connections all share this one.
    """

    def __init__(self) -> None:
        group = crt_io.EventLoopGroup(1)
        self.bootstrap = crt_io.ClientBootstrap(group, crt_io.DefaultHostResolver(group))


@functools.cache
def shared_event_loop() -> CrtEventLoop:
    """The process's CRT event loop (created on first use)."""
    return CrtEventLoop()


def crt_client(ca_file: str | Path | None, eventloop: CrtEventLoop | None = None, *,
               nodelay: bool = True) -> TrustingCRTHTTPClient:
    """A CRT transport forcing HTTP/2, trusting `ca_file` if given, on `eventloop` (default: the shared one), with
    TCP_NODELAY set on its connections unless `nodelay` is False."""
    ca_pem = Path(ca_file).read_bytes() if ca_file else None
    return TrustingCRTHTTPClient(ca_pem, nodelay=nodelay, eventloop=eventloop or shared_event_loop(),
                                 client_config=AWSCRTHTTPClientConfig(force_http_2=True))


def credentials_resolver() -> EnvironmentCredentialsResolver | None:
    """Environment credentials when set (tests, containers with injected keys); None lets the SDK use its chain."""
    if os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY"):
        return EnvironmentCredentialsResolver()  # type: ignore[no-untyped-call]
    return None
