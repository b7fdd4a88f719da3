"""Tools a speech-to-speech model may call mid-conversation (Nova Sonic's native tool use).

A Tool is a name, a description and an input JSON Schema (what the model is told) plus a handler (what runs when it
asks). A ToolBox is the set offered to every stream of an adapter; `run` never raises: a missing tool, a handler
error or a handler slower than its budget comes back as an `{"error": ...}` result, because the model is waiting
mid-turn and an answer it can speak about ("I couldn't look that up") beats a stalled conversation.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any]], Awaitable[Any] | Any]
DEFAULT_BUDGET_SECONDS = 3.0  # a spoken conversation cannot wait much longer for a lookup


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    input_schema: dict[str, Any]
    handler: Handler = field(repr=False)


class ToolBox:
    """The tools offered to the model, looked up by name when it asks for one."""

    def __init__(self, tools: Iterable[Tool] = (), *, budget_seconds: float = DEFAULT_BUDGET_SECONDS) -> None:
        self._tools = {tool.name: tool for tool in tools}
        self.budget_seconds = budget_seconds

    def __bool__(self) -> bool:
        return bool(self._tools)

    @property
    def names(self) -> list[str]:
        return sorted(self._tools)

    def specs(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(name, description, input schema) of every tool, in name order."""
        return [(t.name, t.description, t.input_schema) for t in sorted(self._tools.values(), key=lambda t: t.name)]

    async def run(self, name: str, tool_input: dict[str, Any]) -> Any:
        """The tool's result, or `{"error": ...}` (unknown tool, handler error, over budget). Never raises."""
        tool = self._tools.get(name)
        if tool is None:
            return {"error": f"unknown tool {name!r}; offered: {', '.join(self.names) or 'none'}"}
        try:
            async with asyncio.timeout(self.budget_seconds):
                result = tool.handler(tool_input)
                if inspect.isawaitable(result):
                    result = await result
            return result
        except TimeoutError:
            log.warning("tool %s took longer than %.1f s", name, self.budget_seconds)
            return {"error": f"{name} did not answer within {self.budget_seconds:g} s"}
        except Exception as exc:  # a broken tool must not break the conversation
            log.exception("tool %s failed", name)
            return {"error": f"{name} failed: {type(exc).__name__}: {exc}"}


def date_and_time_tool(clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> Tool:
    """The AWS samples' getDateAndTimeTool: the current date and time (UTC), from the injected clock."""

    def now(_: dict[str, Any]) -> dict[str, str]:
        moment = clock()
        return {"date": moment.strftime("%Y-%m-%d"), "year": str(moment.year), "month": moment.strftime("%B"),
                "day": str(moment.day), "dayOfWeek": moment.strftime("%A"), "time": moment.strftime("%H:%M"),
                "timezone": "UTC"}

    return Tool("getDateAndTimeTool", "Get information about the current date and time (UTC).",
                {"type": "object", "properties": {}, "required": []}, now)


BUILTIN_TOOLS: dict[str, Callable[[], Tool]] = {"getDateAndTimeTool": date_and_time_tool}


def builtin_toolbox(names: Iterable[str]) -> ToolBox:
    """The built-in tools named in settings (`backends.nova_tools`); an unknown name is a configuration error."""
    names = list(names)
    unknown = [name for name in names if name not in BUILTIN_TOOLS]
    if unknown:
        raise ValueError(f"unknown tool(s) in nova_tools: {', '.join(unknown)}; built in: {', '.join(BUILTIN_TOOLS)}. "
                         "Other tools are passed in code: NovaSonicAdapter(settings, tools=ToolBox([...])).")
    return ToolBox(BUILTIN_TOOLS[name]() for name in names)
