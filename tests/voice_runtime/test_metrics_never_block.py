"""`--metrics emf` with a stdout nobody reads: sessions and /healthz keep answering, the lost samples are counted.

Before the EMF writer moved off the event loop, the first EMF line that did not fit the pipe blocked the loop in
`write()`: every session and /healthz froze (issue 17).
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request

import pytest

from tests.voice_runtime.serve_process import serve, small_pipe
from tests.voice_runtime.wsclient import connect, open_session, turn

pytestmark = pytest.mark.slow

ARGS = ["--registry-source", "examples/voice-m2.yaml", "--phase", "Phase1_Week1", "--emulate", "m1_pipeline",
        "--latency-p50-ms", "5", "--latency-p95-ms", "5", "--metrics", "emf", "--metrics-queue", "4",
        "--log-level", "WARNING"]


def health(port: int) -> dict[str, object]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as response:
        return dict(json.loads(response.read()))


async def sessions_with_turns(port: int, sessions: int, turns: int) -> list[str]:
    async def one(index: int) -> list[str]:
        async with connect(f"ws://127.0.0.1:{port}/ws") as ws:
            await open_session(ws, f"user-{index}")
            return [(await turn(ws))[0][-1]["reason"] for _ in range(turns)]

    results = await asyncio.gather(*(one(i) for i in range(sessions)))
    return [reason for reasons in results for reason in reasons]


async def test_a_stdout_nobody_reads_never_freezes_sessions_or_healthz() -> None:
    read_end, write_end = small_pipe()
    try:
        with serve(ARGS, stdout=write_end) as proc:
            os.close(write_end)
            write_end = -1
            # 10 sessions x 3 turns write ~30 EMF lines of ~400 bytes: three times what the 4 KiB pipe holds.
            reasons = await asyncio.wait_for(sessions_with_turns(proc.port, 10, 3), 60)
            assert reasons == ["end_turn"] * 30
            # The pipe and the sink's 4-document queue are full, the pipe still unread: a new session and /healthz
            # answer all the same.
            after = await asyncio.wait_for(sessions_with_turns(proc.port, 1, 1), 30)
            assert after == ["end_turn"]
            status = await asyncio.wait_for(asyncio.to_thread(health, proc.port), 30)
            emf = status["metrics"]["emf"]  # type: ignore[index]
            assert emf["dropped_samples"] > 0 and emf["queued"] >= 0, status
            assert "metrics: dropped" in proc.log()  # said once in the log too, not once per sample
            assert proc.log().count("metrics: dropped") <= 2
    finally:
        if write_end >= 0:
            os.close(write_end)
        os.close(read_end)
