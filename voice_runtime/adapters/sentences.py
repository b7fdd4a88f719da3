"""First-sentence text chunking for the pipeline adapters: speak each sentence as soon as the LLM has finished it.

Feeding streamed deltas yields complete sentences in order; `flush` returns whatever is left at the end of the
reply. Pure and incremental (the text seen so far is scanned once).
"""

from __future__ import annotations

import re

# A sentence ends at . ! ? (optionally followed by closing quotes/brackets) and then whitespace.
_END = re.compile(r"""[.!?]+["')\]]*\s+""")
_ABBREVIATIONS = {"mr.", "mrs.", "ms.", "dr.", "st.", "e.g.", "i.e.", "etc.", "vs.", "no.", "approx."}
MAX_CHARS = 240  # a run-on "sentence" is cut at the last comma or space before this, so speech never waits on it


class SentenceChunker:
    """Incremental sentence splitter."""

    def __init__(self, *, max_chars: int = MAX_CHARS) -> None:
        self._buffer = ""
        self._max = max_chars

    def feed(self, delta: str) -> list[str]:
        """Add streamed text; return the sentences it completes."""
        self._buffer += delta
        sentences: list[str] = []
        start = 0
        for match in _END.finditer(self._buffer):
            candidate = self._buffer[start:match.end()].strip()
            last_word = candidate.rsplit(None, 1)[-1].lower() if candidate else ""
            if last_word in _ABBREVIATIONS:
                continue
            if candidate:
                sentences.append(candidate)
            start = match.end()
        self._buffer = self._buffer[start:]
        while len(self._buffer) > self._max:
            cut = self._buffer.rfind(", ", 0, self._max)
            cut = cut + 1 if cut > 0 else self._buffer.rfind(" ", 0, self._max)
            if cut <= 0:
                cut = self._max
            sentences.append(self._buffer[:cut].strip())
            self._buffer = self._buffer[cut:].lstrip()
        return sentences

    def flush(self) -> str | None:
        """The unfinished remainder at the end of the reply (None if nothing is left)."""
        rest, self._buffer = self._buffer.strip(), ""
        return rest or None
