"""SIGTERM against a real `voicectl runtime serve`: bounded when an AWS endpoint hangs, and a graceful drain.

Before (issue 17): with CloudWatch hanging the process never exited (ECS would SIGKILL it after its stop timeout),
with SSM hanging it took 71 s; and SIGTERM closed every live call at once with 1001, mid-reply.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.voice_runtime.serve_process import ServeProcess, hung_endpoint, serve
from tests.voice_runtime.wsclient import FRAME, connect, open_session, recv_json, turn, until_turn_end
from voice_runtime.settings import RuntimeSettings

pytestmark = pytest.mark.slow

EMULATED = ["--emulate", "m1_pipeline", "--latency-p50-ms", "5", "--latency-p95-ms", "5", "--log-level", "INFO"]
# The stated bound with no live session: the shutdown grace, plus the close handshake and interpreter exit.
SETTINGS = RuntimeSettings()
BOUND = SETTINGS.shutdown_seconds + 5


def exit_seconds(proc: ServeProcess, limit: float) -> float | None:
    """SIGTERM the process; seconds until it exited, or None if it was still running after `limit`."""
    start = time.monotonic()
    proc.process.send_signal(signal.SIGTERM)
    try:
        proc.process.wait(limit)
    except subprocess.TimeoutExpired:
        return None
    return time.monotonic() - start


async def one_turn(port: int) -> str:
    async with connect(f"ws://127.0.0.1:{port}/ws") as ws:
        await open_session(ws)
        messages, _ = await turn(ws)
        return str(messages[-1]["reason"])


async def test_sigterm_exits_within_the_bound_while_cloudwatch_hangs() -> None:
    with hung_endpoint() as endpoint, serve(
        ["--registry-source", "examples/voice-m2.yaml", "--metrics", "cloudwatch", "--endpoint-url", endpoint,
         *EMULATED], env={"AWS_ENDPOINT_URL": endpoint},
    ) as proc:
        # A turn's samples go to PutMetricData, which the hung endpoint never answers.
        assert await asyncio.wait_for(one_turn(proc.port), 30) == "end_turn"
        took = exit_seconds(proc, BOUND + 30)
        assert took is not None and took <= BOUND, (took, proc.log())
        assert proc.process.returncode == 0, proc.log()


async def test_sigterm_exits_within_the_bound_while_ssm_hangs() -> None:
    with hung_endpoint() as endpoint, serve(
        ["--registry-source", "ssm", "--metrics", "none", "--endpoint-url", endpoint, *EMULATED],
        env={"AWS_ENDPOINT_URL": endpoint},
    ) as proc:
        # No registry was ever read: the baseline serves; the refresh loop's fetches hang in the background.
        assert await asyncio.wait_for(one_turn(proc.port), 30) == "end_turn"
        took = exit_seconds(proc, BOUND + 80)
        assert took is not None and took <= BOUND, (took, proc.log())
        assert "registry source failing" in proc.log()


def health_status(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


async def test_sigterm_drains_the_turn_in_flight_then_asks_the_client_to_reconnect() -> None:
    with serve(["--registry-source", "examples/voice-m2.yaml", "--metrics", "none", *EMULATED]) as proc:
        async with connect(f"ws://127.0.0.1:{proc.port}/ws") as ws:
            await open_session(ws)
            for _ in range(5):
                await ws.send(FRAME)
            await ws.send(json.dumps({"type": "end_turn"}))
            assert (await recv_json(ws))["type"] == "turn_start"
            proc.process.send_signal(signal.SIGTERM)  # mid-reply (the emulated reply lasts 1 s)
            # Draining: health says so (the load balancer stops routing), new sessions are refused with 503.
            for _ in range(200):
                if await asyncio.to_thread(health_status, proc.port) == 503:
                    break
            assert await asyncio.to_thread(health_status, proc.port) == 503
            with pytest.raises(InvalidStatus) as refused:
                async with connect(f"ws://127.0.0.1:{proc.port}/ws"):
                    pass
            assert refused.value.response.status_code == 503
            # The reply in flight finishes; then the server closes with 1012: reconnect (to another task).
            messages, audio = await until_turn_end(ws)
            assert messages[-1]["reason"] == "end_turn" and len(audio) == 48_000
            with pytest.raises(ConnectionClosed):
                async with asyncio.timeout(10):
                    while True:
                        await ws.recv()
            assert ws.close_code == 1012
        proc.process.wait(BOUND + 10)
        assert proc.process.returncode == 0, proc.log()


def test_the_watchdog_ends_a_process_that_a_non_daemon_thread_would_hold() -> None:
    # A backend SDK's own pool thread stuck in a call: the interpreter would join it at exit, for ever.
    script = (
        "import threading, time\n"
        "from voice_runtime.shutdown import ExitWatchdog\n"
        "threading.Thread(target=threading.Event().wait, name='sdk-pool-0').start()\n"
        "ExitWatchdog(3).arm(0.2)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 3
    assert "exiting now" in result.stderr and "sdk-pool-0" in result.stderr
