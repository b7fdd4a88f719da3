"""The browser client in real headless Chromium against the embedded stack.

Debian's chromium (scripts/install-chromium.sh) driven by Playwright from PyPI with executable_path: no browser
download. The fake microphone plays a WAV of speech-like bursts separated by silences, so the page's VAD ends
turns and barges in on its own: a turn completes with audio received and played, a later utterance talks over
a reply and playback stops at once, and the page shows the variant and the TTFA. A screenshot goes to artifacts/.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from embedded.audio import write_wav
from embedded.stack import EmbeddedStack, StackConfig, default_backends
from registry.model import Backend

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"

# Silence to settle the noise floor; a 1.2 s utterance answered in full (3.5 s of quiet); a 1.2 s utterance whose
# reply (2 s long) is talked over after ~1 s; then the barge-in utterance, answered in full.
MIC_PATTERN = [(0.0, 0.6), (1.2, 3.5), (1.2, 1.3), (1.5, 4.0)]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium: run scripts/install-chromium.sh"),
]


class StackThread:
    """The embedded stack on its own event loop in a background thread (Playwright's sync API owns this one)."""

    def __init__(self, config: StackConfig) -> None:
        self.stack = EmbeddedStack(config)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> EmbeddedStack:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.stack.start(), self.loop).result(timeout=60)
        # 100% sonic-unified (barge_in_enabled): every turn of the page is served by the Nova Sonic emulator.
        asyncio.run_coroutine_threadsafe(self.stack.set_phase("Phase4_Week7", "browser test"), self.loop).result(30)
        return self.stack

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.stack.stop(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def stack() -> Iterator[EmbeddedStack]:
    backends = default_backends(reply_seconds=2.0)  # long enough to be talked over
    backends[Backend.NOVA_SONIC] = backends[Backend.NOVA_SONIC].model_copy(update={"latency_p95_ms": 200})
    with StackThread(StackConfig(backends=backends, put_metric_data=False)) as running:
        yield running


def _state(page: Any) -> dict[str, Any]:
    state: dict[str, Any] = page.evaluate(
        "() => ({state: voiceClient.state, stats: voiceClient.stats, turns: voiceClient.turns,"
        " playing: voiceClient.playing, log: voiceClient.log})")
    return state


def test_browser_turn_playback_barge_in_variant_and_ttfa(stack: EmbeddedStack, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    wav = write_wav(tmp_path / "mic.wav", MIC_PATTERN)
    assert stack.info is not None
    args = ["--no-sandbox", "--headless", "--disable-gpu", "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={wav}",
            "--autoplay-policy=no-user-gesture-required", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=args)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 760})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{stack.info.web_url}?autostart=1&subject=browser-user-7&heartbeat_ms=2000")
            # GIVEN the fake microphone speaks, WHEN the VAD ends the first turn, THEN the reply is received and played
            page.wait_for_function("() => voiceClient.turns.some(t => t.reason === 'end_turn' && t.ttfaMs !== null)"
                                   " && voiceClient.stats.chunksPlayed > 0", timeout=30_000)
            # WHEN a later utterance talks over a reply, THEN playback stops at once and barge_in is sent
            page.wait_for_function("() => voiceClient.stats.bargeIns > 0 && "
                                   "voiceClient.turns.some(t => t.reason === 'interrupted')", timeout=30_000)
            page.wait_for_function("() => voiceClient.stats.heartbeatRttMs !== null", timeout=10_000)
            state = _state(page)
            variant_text = page.inner_text("#variant")
            ttfa_text = page.inner_text("#ttfa")
            rows = page.locator("#turns tr").count()
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "browser-client.png"), full_page=True)
        finally:
            browser.close()

    stats, turns = state["stats"], state["turns"]
    completed = [t for t in turns if t["reason"] == "end_turn"]
    assert completed, state["log"]
    assert {t["variant"] for t in turns} == {"sonic-unified"}
    assert completed[0]["ttfaMs"] > 0 and completed[0]["audioBytes"] > 0
    assert stats["audioBytesReceived"] > 0 and stats["chunksPlayed"] > 0
    assert stats["bargeInsSent"] >= 1 and stats["playbackStops"] >= 1
    assert stats["sourcesAfterBargeIn"] == 0 and stats["playingAfterBargeIn"] is False
    interrupted = [t for t in turns if t["reason"] == "interrupted"]
    assert interrupted and interrupted[0]["audioBytes"] < 2.0 * 48_000  # cut before the whole 2 s reply arrived
    assert variant_text == "sonic-unified"
    assert ttfa_text.endswith(" ms")
    assert rows >= 2
    assert not errors
    assert not [e for e in stats["errors"] if e != "wrong_order"]
