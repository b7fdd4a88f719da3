"""The demo scenario once, end to end on the embedded stack (moto, runtime, emulators, local alarms)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from embedded.clock import ScaledClock
from embedded.plot import demo_timeline
from embedded.report import DemoRecord, summary, write_json
from embedded.scenario import REVERT_ALARM, WATCHED, DemoScenario, ScenarioConfig
from embedded.stack import EmbeddedStack, StackConfig

pytestmark = pytest.mark.slow

# Shorter than `voicectl demo` (fewer callers, a shorter healthy canary).
QUICK = ScenarioConfig(external_callers=60, internal_callers=6, utterance_s=0.3, canary_seconds=25.0,
                       after_revert_seconds=12.0)
# The rollout's clock runs this many times faster than real time (DESIGN.md: periods are tested on an injected
# clock): bakes, 10 s alarm periods and the 3 s registry cache pass in a fraction, while every turn's audio and
# latency stay real, so the alarm still judges real TTFA.
SPEED = 5.0


async def _run() -> tuple[DemoRecord, list[str]]:
    stack = EmbeddedStack(StackConfig(reply_seconds=0.4), clock=ScaledClock(SPEED))
    await stack.start()
    try:
        record = await DemoScenario(stack, QUICK).run()
    finally:
        await stack.stop()
    return record, stack.applied


def test_canary_regression_is_reverted_by_the_p95_alarm(tmp_path: Path) -> None:
    record, applied = asyncio.run(_run())
    failed = [f"{c.name}: {c.detail}" for c in record.checks if not c.ok]
    assert not failed, failed
    assert applied  # the registry went to moto through apply's own steps

    doc = summary(record)
    assert doc["ok"] is True
    assert doc["errors"] == 0
    # the regression shows in the numbers the alarm watched
    assert doc["ttfa_before_regression"][WATCHED]["p95_ms"] < 800 < doc["ttfa_after_regression"][WATCHED]["p95_ms"]
    kinds = [e.kind for e in record.events]
    assert kinds.index("inject") < kinds.index("override")
    phases = [e.title for e in record.events if e.kind == "phase"]
    assert phases == ["Phase1_Week1", "Phase2_Week2", "Phase3_Week4"]
    assert doc["alarm_at_s"] is not None and doc["alarm_to_override_s"] is not None
    assert record.first("alarm", f"ALARM {REVERT_ALARM}") is not None

    report = write_json(tmp_path / "report.json", record)
    png = demo_timeline(record, tmp_path / "timeline.png", threshold_ms=800)
    assert json.loads(report.read_text())["checks"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
