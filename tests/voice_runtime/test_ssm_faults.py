"""SSM failing mid-run under live WebSocket sessions: moto's server stopped, or SSM hanging. Zero failed turns."""

from __future__ import annotations

import contextlib
import threading
import urllib.request
from collections.abc import Iterator

import boto3
import pytest
from botocore.config import Config
from moto.server import ThreadedMotoServer

from control_plane.aws.live_store import read_namespace
from registry.compiled import CompiledRegistry
from tests.voice_runtime.support import NS, namespace_values
from tests.voice_runtime.wsclient import connect, open_session, running, turn, url
from voice_runtime.metrics import SESSION_ERROR


@pytest.fixture
def own_moto() -> Iterator[tuple[ThreadedMotoServer, str]]:
    """A moto server of this test's own, so stopping it does not affect the shared one."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"))
    yield server, endpoint
    with contextlib.suppress(Exception):  # already stopped by the test
        server.stop()


async def test_moto_server_stopped_mid_run_fails_no_turn(
    compiled: CompiledRegistry, own_moto: tuple[ThreadedMotoServer, str]
) -> None:
    moto, endpoint = own_moto
    setup = boto3.client("ssm", endpoint_url=endpoint, region_name="us-east-1")
    for name, value in namespace_values(compiled, "Phase4_Week7").items():
        setup.put_parameter(Name=name, Value=value, Type="String", Overwrite=True, Tier="Advanced")
    ssm = boto3.client("ssm", endpoint_url=endpoint, region_name="us-east-1",
                       config=Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=2))
    async with running(compiled, fetch=lambda: read_namespace(ssm, NS), ssm_timeout_seconds=3) as (server, sink):
        async with connect(url(server)) as ws:
            await open_session(ws)
            ends = [(await turn(ws))[0][-1] for _ in range(3)]
            moto.stop()  # SSM is gone
            assert await server.registry.refresh() is False
            assert server.registry.status().last_error is not None
            ends += [(await turn(ws))[0][-1] for _ in range(5)]
        assert [e["reason"] for e in ends] == ["end_turn"] * 8
        assert {e["variant"] for e in ends} == {"sonic-unified"}  # the last good copy, not the baseline
        assert sink.values(SESSION_ERROR) == [0.0] * 8


async def test_ssm_hanging_mid_run_fails_no_turn(compiled: CompiledRegistry) -> None:
    values = namespace_values(compiled, "Phase4_Week7")
    hang = threading.Event()
    release = threading.Event()

    def fetch() -> dict[str, str]:
        if hang.is_set():
            release.wait(10)
        return values

    try:
        async with running(compiled, fetch=fetch, ssm_timeout_seconds=0.1) as (server, _):
            async with connect(url(server)) as ws:
                await open_session(ws)
                (await turn(ws))
                hang.set()
                assert await server.registry.refresh() is False  # timed out, the copy stays
                ends = [(await turn(ws))[0][-1] for _ in range(4)]
            assert {e["variant"] for e in ends} == {"sonic-unified"}
            assert [e["reason"] for e in ends] == ["end_turn"] * 4
            assert "timed out" in (server.registry.status().last_error or "")
    finally:
        release.set()
