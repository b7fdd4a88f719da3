"""The CRT transport helpers: TCP_NODELAY on sockets we do not own, and the trust store kept across deep copies."""

from __future__ import annotations

import copy
import socket

from emulators.tls import make_local_certificate
from voice_runtime.adapters.crt_transport import (
    CrtEventLoop,
    TrustingCRTHTTPClient,
    crt_client,
    set_nodelay_to,
    shared_event_loop,
)


def test_nodelay_is_set_on_sockets_connected_to_the_peer_only(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with socket.create_server(("127.0.0.1", 0)) as listener, socket.create_server(("127.0.0.1", 0)) as other:
        port = listener.getsockname()[1]
        target = socket.create_connection(("127.0.0.1", port))
        bystander = socket.create_connection(("127.0.0.1", other.getsockname()[1]))
        try:
            target.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
            bystander.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
            assert set_nodelay_to("127.0.0.1", port) >= 1
            assert target.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            assert bystander.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 0
        finally:
            target.close()
            bystander.close()


def test_deep_copy_keeps_the_trusted_certificate(tmp_path) -> None:  # type: ignore[no-untyped-def]
    pem = make_local_certificate(tmp_path).cert_pem
    client = TrustingCRTHTTPClient(pem)
    clone = copy.deepcopy(client)
    assert isinstance(clone, TrustingCRTHTTPClient) and clone._ca_pem == pem


def test_scanning_descriptors_leaks_none() -> None:
    import gc
    import os

    gc.collect()  # garbage left by earlier tests would otherwise close its sockets mid-count (a false "leak")
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        set_nodelay_to("127.0.0.1", 9)
    assert len(os.listdir("/proc/self/fd")) == before


def test_transports_share_one_crt_event_loop_unless_given_their_own() -> None:
    first, second = crt_client(None), crt_client(None)
    assert first._eventloop is second._eventloop is shared_event_loop()
    own = CrtEventLoop()
    assert crt_client(None, own)._eventloop is own
    assert copy.deepcopy(first)._eventloop is shared_event_loop()  # the SDK deep-copies its config per client
