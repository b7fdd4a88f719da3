"""The adapter's turn accounting on recorded event sequences: a turn's FINAL transcript and usage stay with that
turn whether the last AUDIO END_TURN comes before the FINAL text (the service's order) or after it, and barge-in
ends the turn on INTERRUPTED. Fixtures: tests/fixtures/nova_sonic/turn_final_text_{after,before}_audio_end.json."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from registry.compiled import CompiledRegistry
from tests.voice_runtime.adapters.conftest import context
from voice_runtime.adapters import nova_sonic_events as ev
from voice_runtime.adapters.base import BackendEvent, Transcript, TurnEnd, Usage
from voice_runtime.adapters.nova_sonic import NovaSonicAdapter, NovaSonicSession, _Stream

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "nova_sonic"


def fixture(name: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = json.loads((FIXTURES / name).read_text())
    return events


class Replay:
    """One session's router fed recorded output events for its current turn."""

    def __init__(self, compiled: CompiledRegistry) -> None:
        adapter = NovaSonicAdapter({"nova_usage_grace_ms": 50})
        self.session = NovaSonicSession(adapter, context(compiled, "sonic-unified"))
        self.stream = _Stream(duplex=None, prompt_name="P", audio_content="A", opened_at=0.0)
        self.session._stream = self.stream
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self.session._turn, self.session._turn_seq = self.queue, 1

    def feed(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            self.session._route(self.stream, ev.parse_output(json.dumps(event)))

    def queued(self) -> list[BackendEvent]:
        out = []
        while not self.queue.empty():
            out.append(self.queue.get_nowait())
        return out

    async def until_turn_end(self) -> list[BackendEvent]:
        out: list[BackendEvent] = []
        while not out or not isinstance(out[-1], TurnEnd):
            out.append(await asyncio.wait_for(self.queue.get(), 2.0))
        return out


@pytest.mark.parametrize("name", [
    pytest.param("turn_final_text_after_audio_end.json", id="final-text-after-audio-end-turn"),
    pytest.param("turn_final_text_before_audio_end.json", id="final-text-before-audio-end-turn"),
])
async def test_the_final_transcript_and_usage_stay_with_their_turn_in_either_order(
        compiled: CompiledRegistry, name: str) -> None:
    events = fixture(name)
    replay = Replay(compiled)
    replay.feed(events)
    got = await replay.until_turn_end()
    assert got[-1] == TurnEnd("END_TURN")
    finals = [e.text for e in got if isinstance(e, Transcript) and e.role == "assistant" and e.final]
    speculative = [e.text for e in got if isinstance(e, Transcript) and e.role == "assistant" and not e.final]
    assert finals == speculative and len(finals) == 2  # both sentences, as spoken
    usage_sent = [e for e in events if "usageEvent" in e["event"]]
    usage_got = [e for e in got if isinstance(e, Usage)]
    assert len(usage_got) == len(usage_sent)  # every usage event of the turn, none left for the next
    last_total = usage_sent[-1]["event"]["usageEvent"]["totalOutputTokens"]
    assert sum(u.output_tokens for u in usage_got) == last_total
    assert replay.session._pending_usage == []


async def test_the_turn_does_not_end_at_the_audio_end_turn_while_final_text_is_due(
        compiled: CompiledRegistry) -> None:
    events = fixture("turn_final_text_after_audio_end.json")
    audio_end = next(i for i, e in enumerate(events)
                     if e["event"].get("contentEnd", {}).get("type") == "AUDIO"
                     and e["event"]["contentEnd"]["stopReason"] == "END_TURN")
    replay = Replay(compiled)
    replay.feed(events[:audio_end + 2])  # the AUDIO END_TURN and its usage event
    assert not any(isinstance(e, TurnEnd) for e in replay.queued())
    replay.feed(events[audio_end + 2:])
    got = await replay.until_turn_end()
    assert [e.text for e in got if isinstance(e, Transcript) and e.final][-1] == "Anything more?"


async def test_barge_in_ends_the_turn_on_interrupted(compiled: CompiledRegistry) -> None:
    events = fixture("turn_final_text_after_audio_end.json")
    first_audio = next(i for i, e in enumerate(events) if "audioOutput" in e["event"])
    audio_id = events[first_audio]["event"]["audioOutput"]["contentId"]
    replay = Replay(compiled)
    replay.feed(events[:first_audio + 1])
    replay.feed([{"event": {"contentEnd": {"contentId": audio_id, "type": "AUDIO", "role": "ASSISTANT",
                                           "stopReason": "INTERRUPTED"}}}])
    got = replay.queued()
    assert got[-1] == TurnEnd("INTERRUPTED")  # at once: no wait for usage or FINAL text on barge-in
