"""ToolBox: what the model is told, and answers that never raise (unknown tool, failure, over budget)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from voice_runtime.adapters.tools import Tool, ToolBox, builtin_toolbox, date_and_time_tool

SCHEMA: dict[str, Any] = {"type": "object", "properties": {"city": {"type": "string"}}}


async def slow(_: dict[str, Any]) -> dict[str, str]:
    await asyncio.sleep(5)
    return {"never": "seen"}


def broken(_: dict[str, Any]) -> None:
    raise KeyError("city")


async def echo(tool_input: dict[str, Any]) -> dict[str, Any]:
    return {"echo": tool_input}


def box() -> ToolBox:
    return ToolBox([Tool("slow", "slow", SCHEMA, slow), Tool("broken", "broken", SCHEMA, broken),
                    Tool("echo", "echo", SCHEMA, echo)], budget_seconds=0.05)


def test_specs_are_in_name_order_and_an_empty_box_is_falsy() -> None:
    assert [name for name, _, _ in box().specs()] == ["broken", "echo", "slow"]
    assert box().specs()[1] == ("echo", "echo", SCHEMA)
    assert not ToolBox() and box()


def test_async_and_sync_handlers_answer() -> None:
    assert asyncio.run(box().run("echo", {"city": "Oslo"})) == {"echo": {"city": "Oslo"}}
    assert asyncio.run(ToolBox([Tool("s", "s", SCHEMA, lambda i: [i])]).run("s", {})) == [{}]


def test_unknown_failing_and_slow_tools_come_back_as_error_results() -> None:
    tools = box()
    assert asyncio.run(tools.run("weather", {})) == {
        "error": "unknown tool 'weather'; offered: broken, echo, slow"}
    assert asyncio.run(tools.run("broken", {})) == {"error": "broken failed: KeyError: 'city'"}
    assert asyncio.run(tools.run("slow", {})) == {"error": "slow did not answer within 0.05 s"}


def test_date_and_time_reads_the_injected_clock() -> None:
    tool = date_and_time_tool(lambda: datetime(2026, 11, 25, 18, 41, tzinfo=UTC))
    result = asyncio.run(ToolBox([tool]).run("getDateAndTimeTool", {}))
    assert result == {"date": "2026-11-25", "year": "2026", "month": "November", "day": "25",
                      "dayOfWeek": "Wednesday", "time": "18:41", "timezone": "UTC"}


def test_builtin_tools_are_named_in_settings_and_an_unknown_name_says_what_exists() -> None:
    assert builtin_toolbox(["getDateAndTimeTool"]).names == ["getDateAndTimeTool"]
    assert not builtin_toolbox([])
    with pytest.raises(ValueError, match=r"unknown tool.*weather; built in: getDateAndTimeTool"):
        builtin_toolbox(["weather"])


def test_the_nova_adapter_offers_the_tools_its_settings_name() -> None:
    from voice_runtime.adapters.nova_sonic import NovaSonicAdapter
    from voice_runtime.settings import RuntimeSettings

    settings = RuntimeSettings(backends={"nova_tools": ["getDateAndTimeTool"]})
    assert NovaSonicAdapter(settings).tools.names == ["getDateAndTimeTool"]
    assert not NovaSonicAdapter({}).tools
