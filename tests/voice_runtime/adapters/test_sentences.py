"""First-sentence chunking: speech starts as soon as one sentence is complete."""

from __future__ import annotations

import pytest

from voice_runtime.adapters.sentences import SentenceChunker


def feed_all(deltas: list[str], max_chars: int = 240) -> list[str]:
    chunker = SentenceChunker(max_chars=max_chars)
    out = [s for d in deltas for s in chunker.feed(d)]
    if rest := chunker.flush():
        out.append(rest)
    return out


def test_first_sentence_is_released_before_the_reply_ends() -> None:
    chunker = SentenceChunker()
    assert chunker.feed("Sure, here is") == []
    assert chunker.feed(" what I found. The fore") == ["Sure, here is what I found."]
    assert chunker.feed("cast is sunny") == []
    assert chunker.flush() == "The forecast is sunny"


@pytest.mark.parametrize(("deltas", "expected"), [
    pytest.param(["It costs 3.5 dollars. Ok?"], ["It costs 3.5 dollars.", "Ok?"], id="decimal-not-split"),
    pytest.param(["Ask Dr. Smith now! Then wait."], ["Ask Dr. Smith now!", "Then wait."], id="abbreviation"),
    pytest.param(['He said "hi." And left.'], ['He said "hi."', "And left."], id="closing-quote"),
    pytest.param(["Wh", "at", "? ", "Yes."], ["What?", "Yes."], id="split-across-deltas"),
    pytest.param([""], [], id="empty"),
])
def test_sentence_boundaries(deltas: list[str], expected: list[str]) -> None:
    assert feed_all(deltas) == expected


def test_run_on_text_is_cut_at_a_comma_before_the_limit() -> None:
    out = feed_all(["one two three, four five six, seven eight nine ten eleven"], max_chars=30)
    assert out[0] == "one two three, four five six,"
    assert all(len(s) <= 30 for s in out)
    words = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven"]
    assert " ".join(out).replace(",", "").split() == words
