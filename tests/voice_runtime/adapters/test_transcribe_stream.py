"""The Transcribe emulator through the real aws_sdk_transcribe_streaming client: per-utterance finals, no
transcript for silence, the service's no-audio timeout, and its documented response headers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest
from aws_sdk_transcribe_streaming.models import (
    AudioEvent,
    AudioStreamAudioEvent,
    BadRequestException,
    StartStreamTranscriptionInput,
    TranscriptResultStreamTranscriptEvent,
)

from emulators.audio import silence, voiced_pcm
from emulators.server import EmulatorServer
from voice_runtime.adapters.backend_settings import BackendSettings
from voice_runtime.adapters.pipeline_stages import TranscribeStage

FRAME_MS = 100


async def stream_results(settings: SimpleNamespace, chunks: list[bytes], *, close: bool = True
                         ) -> tuple[list[tuple[str, bool]], Any]:
    """Send `chunks` (100 ms each, at speaking pace: the service hears audio time), collect (text, partial)."""
    stage = TranscribeStage(BackendSettings.of(settings))
    client = await stage.client()
    try:
        stream = await client.start_stream_transcription(StartStreamTranscriptionInput(
            language_code="en-US", media_sample_rate_hertz=16_000, media_encoding="pcm"))
        for chunk in chunks:
            await stream.input_stream.send(AudioStreamAudioEvent(value=AudioEvent(audio_chunk=chunk)))
        if close:
            await stream.input_stream.close()
        output, receiver = await asyncio.wait_for(stream.await_output(), 10)
        got: list[tuple[str, bool]] = []
        try:
            while (event := await asyncio.wait_for(receiver.receive(), 20)) is not None:
                if isinstance(event, TranscriptResultStreamTranscriptEvent) and event.value.transcript:
                    for result in event.value.transcript.results or []:
                        got.append((result.alternatives[0].transcript or "", bool(result.is_partial)))
        finally:
            if not close:
                with contextlib.suppress(Exception):
                    await stream.input_stream.close()
        return got, output
    finally:
        await stage.aclose()


def speech(ms: int) -> list[bytes]:
    return [voiced_pcm(FRAME_MS, 16_000)] * (ms // FRAME_MS)


def pause(ms: int) -> list[bytes]:
    return [silence(FRAME_MS, 16_000)] * (ms // FRAME_MS)


async def test_two_utterances_get_two_finals_with_partials_between(settings: SimpleNamespace,
                                                                   emulators: EmulatorServer) -> None:
    got, output = await stream_results(settings, speech(900) + pause(1200) + speech(600))
    finals = [text for text, partial in got if not partial]
    assert len(finals) == 2 and finals[0] != finals[1]
    assert got.index((finals[0], False)) < len(got) - 1  # the first final came before the second utterance's
    assert any(partial for _, partial in got)
    assert output.media_sample_rate_hertz == 16_000 and output.language_code == "en-US"
    assert output.media_encoding == "pcm" and output.session_id and output.request_id


async def test_silence_is_not_transcribed(settings: SimpleNamespace, emulators: EmulatorServer) -> None:
    got, _ = await stream_results(settings, pause(4000))
    assert got == []


async def test_no_audio_for_the_timeout_is_a_bad_request(settings: SimpleNamespace,
                                                         emulators: EmulatorServer) -> None:
    emulators.emulators.transcribe.behaviour.idle_timeout_s = 0.3
    with pytest.raises(BadRequestException) as refused:
        await stream_results(settings, speech(200), close=False)
    assert "no new audio was received for 15 seconds" in str(refused.value.message)


async def drip(chunks: list[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def test_the_pipeline_stage_joins_every_final_of_the_turn(settings: SimpleNamespace,
                                                                emulators: EmulatorServer) -> None:
    stage = TranscribeStage(BackendSettings.of(settings))
    try:
        text = await stage.transcribe(drip(speech(600) + pause(1200) + speech(600)))
    finally:
        await stage.aclose()
    assert len(text.split()) > 5  # both utterances' finals
