"""The CRT transport helpers: TCP_NODELAY on sockets we do not own, and the trust store kept across deep copies."""

from __future__ import annotations

import copy
import socket
from types import SimpleNamespace

import pytest

from emulators.server import EmulatorServer
from emulators.tls import make_local_certificate
from registry.compiled import CompiledRegistry
from tests.voice_runtime.adapters.conftest import context
from voice_runtime.adapters.crt_transport import (
    CrtEventLoop,
    TrustingCRTHTTPClient,
    crt_client,
    set_nodelay_on_new,
    shared_event_loop,
    tcp_sockets,
)


def nodelay(sock: socket.socket) -> bool:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def test_nodelay_is_set_on_the_new_sockets_to_the_port_only() -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener, socket.create_server(("127.0.0.1", 0)) as other:
        port = listener.getsockname()[1]
        older = socket.create_connection(("127.0.0.1", port))  # an existing connection to the same port
        before = tcp_sockets()
        new = socket.create_connection(("127.0.0.1", port))
        bystander = socket.create_connection(("127.0.0.1", other.getsockname()[1]))
        try:
            for sock in (older, new, bystander):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
            assert set_nodelay_on_new(before, port) == 1
            assert nodelay(new) and not nodelay(older) and not nodelay(bystander)
        finally:
            for sock in (older, new, bystander):
                sock.close()


def test_deep_copy_keeps_the_trusted_certificate(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pem = make_local_certificate(tmp_path).cert_pem
    client = TrustingCRTHTTPClient(pem)
    clone = copy.deepcopy(client)
    assert isinstance(clone, TrustingCRTHTTPClient) and clone._ca_pem == pem


def test_scanning_descriptors_leaks_none() -> None:
    import gc
    import os

    gc.collect()  # garbage left by earlier tests would otherwise close its sockets mid-count (a false "leak")
    scans = [set(os.listdir("/proc/self/fd"))]
    for _ in range(20):
        set_nodelay_on_new(tcp_sockets(), 9)
    scans.append(set(os.listdir("/proc/self/fd")))
    # (other threads of the test process may open descriptors meanwhile: none may be left by the scans' dups)
    assert len(scans[1] - scans[0]) < 5


def test_transports_share_one_crt_event_loop_unless_given_their_own() -> None:
    first, second = crt_client(None), crt_client(None)
    assert first._eventloop is second._eventloop is shared_event_loop()
    own = CrtEventLoop()
    assert crt_client(None, own)._eventloop is own
    assert copy.deepcopy(first)._eventloop is shared_event_loop()  # the SDK deep-copies its config per client


def emulator_client_sockets(port: int) -> list[socket.socket]:
    """This process's sockets connected to the emulators' port (the SDK's own, client side)."""
    import os

    return [socket.socket(fileno=os.dup(fd)) for fd, (_, peer) in tcp_sockets().items()
            if peer is not None and peer[1] == port]


@pytest.mark.parametrize("enabled", [pytest.param(True, id="hook-on"), pytest.param(False, id="hook-off")])
async def test_the_sdks_own_socket_gets_tcp_nodelay(settings: SimpleNamespace, emulators: EmulatorServer,
                                                   compiled: CompiledRegistry, enabled: bool) -> None:
    """Through the real SDK: the CRT's socket to the emulator has TCP_NODELAY exactly when the hook is on (the CRT
    leaves Nagle on), so a renamed SDK hook or a missed socket fails here instead of adding ~40 ms to turns."""
    from voice_runtime.adapters import crt_transport
    from voice_runtime.adapters.nova_sonic import NovaSonicAdapter

    counted = dict(crt_transport.NODELAY_COUNTS)
    adapter = NovaSonicAdapter({**vars(settings), "crt_connections": 1, "crt_nodelay": enabled})
    session = await adapter.open_session(context(compiled, "sonic-unified"))
    try:
        sockets = emulator_client_sockets(emulators.port)
        try:
            assert sockets and all(nodelay(s) == enabled for s in sockets)
        finally:
            for sock in sockets:
                sock.close()
    finally:
        await session.close()
        await adapter.aclose()
    hooked = crt_transport.NODELAY_COUNTS["connections"] - counted["connections"]
    changed = crt_transport.NODELAY_COUNTS["sockets"] - counted["sockets"]
    assert (hooked, changed >= 1) == ((1, True) if enabled else (0, False))
    assert crt_transport.NODELAY_COUNTS["missed"] == counted["missed"]


def test_the_sdk_still_opens_connections_through_the_hooked_method() -> None:
    import inspect

    from smithy_http.aio.crt import AWSCRTHTTPClient

    assert "self._create_connection(" in inspect.getsource(AWSCRTHTTPClient._get_connection)

