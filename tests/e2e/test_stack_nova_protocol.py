"""The embedded stack with sonic-unified through the real Nova Sonic relay to the protocol-level emulator."""

from __future__ import annotations

import asyncio

import pytest

from embedded.conversation import CallerSpec, TurnResult, converse
from embedded.stack import EmbeddedStack, StackConfig
from registry.model import Backend

pytestmark = pytest.mark.slow
SONIC = "sonic-unified"


async def _turns() -> tuple[list[TurnResult], list[TurnResult]]:
    stack = EmbeddedStack(StackConfig(backends_path="real", put_metric_data=False))
    info = await stack.start()
    try:
        await stack.set_phase("Phase4_Week7", "test: everyone on sonic-unified")
        spec = CallerSpec(subject="proto-1", turns=3, utterance_s=0.3, think_s=0.05)
        before = await converse(info.runtime_ws_url, spec)
        stack.set_latency(Backend.NOVA_SONIC, 900, 900)  # the demo's knob, on the protocol emulator
        after = await converse(info.runtime_ws_url, CallerSpec(subject="proto-1", turns=3, utterance_s=0.3))
    finally:
        await stack.stop()
    return before, after


def test_turns_go_through_the_nova_sonic_relay_and_the_knob_reaches_the_emulator() -> None:
    before, after = asyncio.run(_turns())
    turns = before + after
    assert all(r.ok for r in turns), [r.error for r in turns]
    # a Nova Sonic turn that fails (e.g. a timeout on a loaded machine) is retried on the baseline, and says so
    assert all(r.variant == SONIC or r.retried_on_baseline for r in turns)
    sonic_before = [r.model_latency_ms for r in before if r.variant == SONIC and r.model_latency_ms is not None]
    sonic_after = [r.model_latency_ms for r in after if r.variant == SONIC and r.model_latency_ms is not None]
    assert sonic_before and sonic_after
    assert min(sonic_before) < 900 <= min(sonic_after)
