"""The backend adapter interface: how the runtime reaches a variant's backend for one turn.

One adapter class per backend kind (registry.model.Backend), looked up by name in `voice_runtime.adapters.table`.
A conversation opens a `BackendSession` lazily for the variant serving its turn and keeps it across turns while
the variant stays the same (a Nova Sonic stream spans many turns); a change of variant closes it and opens another.

Audio in: 16 kHz, 16-bit little-endian mono PCM frames, streamed as the user speaks (the async iterator ends at
the end of the turn). Audio out: 24 kHz, 16-bit little-endian mono PCM chunks, forwarded to the client as they come.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

from registry.compiled import CompiledVariant

INPUT_SAMPLE_RATE = 16_000
OUTPUT_SAMPLE_RATE = 24_000
SAMPLE_WIDTH = 2  # bytes, signed 16-bit little-endian


@dataclass(frozen=True)
class AudioChunk:
    """Output audio: 24 kHz s16le mono PCM, forwarded without re-buffering."""

    pcm: bytes


@dataclass(frozen=True)
class Transcript:
    role: Literal["user", "assistant"]
    text: str
    final: bool = True


@dataclass(frozen=True)
class Usage:
    """Token counts for the cost model (Nova Sonic usageEvent and the like)."""

    input_tokens: int = 0
    output_tokens: int = 0
    detail: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class TurnEnd:
    """The backend finished the turn; reason 'INTERRUPTED' means barge-in was honoured."""

    reason: str = "END_TURN"


BackendEvent = AudioChunk | Transcript | Usage | TurnEnd


class BackendError(Exception):
    """A backend failed a turn. The runtime retries the turn once on the baseline."""

    def __init__(self, message: str, *, retryable: bool = True, code: str = "backend_error") -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code


@dataclass(frozen=True)
class SessionContext:
    """What a backend session knows of the conversation it serves."""

    session_id: str
    subject: str
    variant: str
    config: CompiledVariant
    internal: bool = False
    system_prompt: str | None = None


class TurnFeed(AsyncIterator[bytes]):
    """A turn's audio that also knows where the turn ends: `at_end` is True once the frame just given is the turn's
    last (the user's end of turn arrived with it). The runtime's FeedReader is one; an adapter can then send what
    ends a turn together with that frame instead of after it."""

    @property
    @abstractmethod
    def at_end(self) -> bool:
        """Was the frame just given the turn's last?"""


def turn_ended(audio: AsyncIterator[bytes]) -> bool:
    """Was the frame `audio` just gave the turn's last? Known only from a TurnFeed; any other iterator says so
    only by stopping."""
    return isinstance(audio, TurnFeed) and audio.at_end


class BackendSession(Protocol):
    """One conversation's connection to one backend."""

    def run_turn(self, audio: AsyncIterator[bytes]) -> AsyncIterator[BackendEvent]:
        """Stream the user's audio in, yield output events until the turn ends (TurnEnd last).

        Raises BackendError on failure. Must return promptly after `barge_in()`.
        """
        ...

    async def barge_in(self) -> None:
        """The user started speaking over the reply: stop producing output and tell the backend."""
        ...

    async def close(self) -> None:
        """Release the backend connection (end the stream in the protocol's order)."""
        ...


class BackendAdapter(Protocol):
    """Factory of sessions for one backend kind."""

    name: str

    async def open_session(self, ctx: SessionContext) -> BackendSession:
        ...

    async def aclose(self) -> None:
        """Release shared resources (HTTP clients, emulator connections)."""
        ...
