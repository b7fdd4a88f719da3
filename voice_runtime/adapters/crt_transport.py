"""The CRT HTTP/2 transport for the smithy-based AWS SDKs (Bedrock bidirectional stream, Transcribe streaming).

Duplex event streams need HTTP/2, which the SDKs get only from `AWSCRTHTTPClient` (the default aiohttp transport
cannot stream both ways). The stock client always trusts the system store; `trusting_crt_client` can add one PEM
certificate (a local emulator's) so the same code runs against the emulators with verification left on.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
from pathlib import Path
from typing import Any

from awscrt import io as crt_io
from smithy_aws_core.identity import EnvironmentCredentialsResolver
from smithy_core import interfaces as core_interfaces
from smithy_http.aio.crt import AWSCRTHTTPClient, AWSCRTHTTPClientConfig


def set_nodelay_to(host: str, port: int) -> int:
    """Set TCP_NODELAY on this process's TCP sockets connected to (host, port); returns how many.

    awscrt 0.32.2 leaves Nagle's algorithm on and has no socket option to turn it off (aws-c-io gained one in
    July 2026, not yet exposed in the Python binding). With Nagle on, the small frame that ends a user's turn waits
    for the ACK of the previous one, which the peer may delay ~40 ms: that is straight onto TTFA. The CRT socket is
    not reachable from Python, so this finds it among the process's descriptors (Linux /proc) and sets the option
    on a duplicate of it (socket options belong to the socket, not the descriptor). Best effort: 0 elsewhere.
    """
    changed = 0
    try:
        descriptors = [int(name) for name in os.listdir("/proc/self/fd")]
    except (OSError, ValueError):
        return 0
    for fd in descriptors:
        try:
            duplicate = os.dup(fd)
        except OSError:
            continue
        try:
            sock = socket.socket(fileno=duplicate)  # owns `duplicate` from here on
        except OSError:
            os.close(duplicate)  # not a socket
            continue
        with sock, contextlib.suppress(OSError):
            if sock.type == socket.SOCK_STREAM and sock.family in (socket.AF_INET, socket.AF_INET6):
                peer = sock.getpeername()
                if peer[1] == port and peer[0] in {host, f"::ffff:{host}"}:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    changed += 1
    return changed


class TrustingCRTHTTPClient(AWSCRTHTTPClient):
    """AWSCRTHTTPClient whose TLS context trusts `ca_pem` instead of the system store (when given)."""

    def __init__(self, ca_pem: bytes | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._ca_pem = ca_pem
        if ca_pem is not None:
            options = crt_io.TlsContextOptions()
            options.override_default_trust_store(ca_pem)
            self._tls_ctx = crt_io.ClientTlsContext(options)

    async def _create_connection(self, url: core_interfaces.URI) -> Any:
        connection = await super()._create_connection(url)
        port = url.port or (self._HTTPS_PORT if url.scheme == "https" else self._HTTP_PORT)
        with contextlib.suppress(OSError, socket.gaierror):
            for info in socket.getaddrinfo(url.host, port, type=socket.SOCK_STREAM):
                set_nodelay_to(str(info[4][0]), port)
        return connection

    def __deepcopy__(self, memo: Any) -> TrustingCRTHTTPClient:
        # The SDK deep-copies its config (and so the transport) per client; keep the trust store and event loop.
        return TrustingCRTHTTPClient(self._ca_pem, eventloop=self._eventloop, client_config=self._config)


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


def crt_client(ca_file: str | Path | None, eventloop: CrtEventLoop | None = None) -> TrustingCRTHTTPClient:
    """A CRT transport forcing HTTP/2, trusting `ca_file` if given, on `eventloop` (default: the shared one)."""
    ca_pem = Path(ca_file).read_bytes() if ca_file else None
    return TrustingCRTHTTPClient(ca_pem, eventloop=eventloop or shared_event_loop(),
                                 client_config=AWSCRTHTTPClientConfig(force_http_2=True))


def credentials_resolver() -> EnvironmentCredentialsResolver | None:
    """Environment credentials when set (tests, containers with injected keys); None lets the SDK use its chain."""
    if os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY"):
        return EnvironmentCredentialsResolver()  # type: ignore[no-untyped-call]
    return None
