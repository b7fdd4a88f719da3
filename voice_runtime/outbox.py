"""A session's bounded outgoing queue: control frames, audio frames tagged with their turn, a lazy turn_end.

Bounded so that a client that stops reading cannot make the server buffer without limit: audio producers wait
(bounded) for room, so a slow reader slows the backend and a stopped one is cut off; barge-in drops a turn's
queued audio at once. The one item always accepted is the close: a queue that overflowed must still be able to
end the connection (before, an overflow on control frames left the session silent until its idle timeout).
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass
from typing import Any, Literal

from voice_runtime.turns import Turn

CONTROL_SLACK = 32  # control frames may exceed the audio bound a little (turn_end must get through)


class SlowConsumer(Exception):
    """The client stopped reading: the outgoing queue stayed full."""


@dataclass
class Item:
    kind: Literal["text", "audio", "turn_end", "close"]
    payload: Any = None
    turn: Turn | None = None


class Outbox:
    """The session's bounded outgoing queue. Audio items can be dropped by turn (barge-in)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: deque[Item] = deque()
        self._ready = asyncio.Event()
        self._space = asyncio.Event()
        self._space.set()

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: Item) -> None:
        if len(self._items) >= self.limit + CONTROL_SLACK:
            raise SlowConsumer(f"{len(self._items)} frames queued")
        self._items.append(item)
        self._ready.set()

    def put_close(self, item: Item) -> None:
        """Queue the close after everything already queued, whatever the bound (a session closes once)."""
        self._items.append(item)
        self._ready.set()

    async def put_audio(self, item: Item, timeout: float) -> None:
        """Wait (bounded) for room: a slow client slows the backend; one that stopped reading is cut off."""
        try:
            async with asyncio.timeout(timeout):
                while len(self._items) >= self.limit:
                    self._space.clear()
                    await self._space.wait()
                    if item.turn is not None and item.turn.barged:
                        return
        except TimeoutError as exc:
            raise SlowConsumer(f"no room in the send queue for {timeout:g}s") from exc
        self.put(item)

    def drop_audio(self, turn: Turn) -> int:
        kept = [i for i in self._items if not (i.kind == "audio" and i.turn is turn)]
        dropped = len(self._items) - len(kept)
        self._items = deque(kept)
        self._space.set()
        return dropped

    async def get(self) -> Item:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        item = self._items.popleft()
        if len(self._items) < self.limit:
            self._space.set()
        return item

    def drain(self) -> list[Item]:
        items, self._items = list(self._items), deque()
        self._space.set()
        return items


