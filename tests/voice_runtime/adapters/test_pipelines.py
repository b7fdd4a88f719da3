"""M1 (Transcribe -> Bedrock ConverseStream -> Polly) and CSM (-> SageMaker response stream) against the emulators,
through the real aws_sdk_transcribe_streaming client and real boto3 calls."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from emulators.behaviour import Behaviour, Fault
from emulators.pipeline_server import REPLY, speech_ms
from emulators.server import EmulatorServer
from registry.compiled import CompiledRegistry
from tests.voice_runtime.adapters.conftest import context, speech
from voice_runtime.adapters.backend_settings import BackendSettings
from voice_runtime.adapters.base import AudioChunk, BackendError, BackendEvent, Transcript, TurnEnd, Usage
from voice_runtime.adapters.csm_sagemaker import CsmSageMakerAdapter
from voice_runtime.adapters.m1_pipeline import M1PipelineAdapter, PipelineAdapter
from voice_runtime.adapters.sentences import SentenceChunker

M1 = "transcribe-polly-baseline"
CSM = "sesame-csm1b"
CASES = [pytest.param(M1PipelineAdapter, M1, id="m1"), pytest.param(CsmSageMakerAdapter, CSM, id="csm")]


def sentences() -> list[str]:
    chunker = SentenceChunker()
    out = chunker.feed(REPLY)
    rest = chunker.flush()
    return out + ([rest] if rest else [])


def expected_audio_bytes() -> int:
    # 24 kHz s16le: 48 bytes per ms of each sentence's synthesized speech.
    return sum(48 * speech_ms(Behaviour(), s) for s in sentences())


async def turn(adapter: PipelineAdapter, compiled: CompiledRegistry, variant: str) -> list[BackendEvent]:
    session = await adapter.open_session(context(compiled, variant))
    try:
        return [e async for e in session.run_turn(speech())]
    finally:
        await session.close()


@pytest.mark.parametrize(("adapter_class", "variant"), CASES)
async def test_a_turn_transcribes_answers_and_speaks_every_sentence(
        settings: SimpleNamespace, emulators: EmulatorServer, compiled: CompiledRegistry,
        adapter_class: type[PipelineAdapter], variant: str) -> None:
    adapter = adapter_class(settings)
    try:
        events = await turn(adapter, compiled, variant)
    finally:
        await adapter.aclose()
    assert isinstance(events[0], Transcript) and events[0].role == "user" and events[0].text
    audio = b"".join(e.pcm for e in events if isinstance(e, AudioChunk))
    assert len(audio) == pytest.approx(expected_audio_bytes(), abs=16)
    assert all(len(e.pcm) % 2 == 0 for e in events if isinstance(e, AudioChunk))
    assert Transcript("assistant", REPLY) in events
    assert any(isinstance(e, Usage) and e.output_tokens > 0 for e in events)
    assert events[-1] == TurnEnd("END_TURN")
    e = emulators.emulators
    spoken = [r["Text"] for r in e.polly.requests] if variant == M1 else [r["text"] for r in e.sagemaker.requests]
    assert spoken == sentences()  # one synthesis per sentence, the first as soon as it was complete
    # Neither variant names a system_prompt_key, so the default persona is sent.
    assert e.converse.requests[0]["system"] == [{"text": BackendSettings().default_system_prompt}]


async def test_m1_asks_polly_for_16khz_pcm_and_delivers_24khz(
        settings: SimpleNamespace, emulators: EmulatorServer, compiled: CompiledRegistry) -> None:
    adapter = M1PipelineAdapter(settings)
    try:
        await turn(adapter, compiled, M1)
    finally:
        await adapter.aclose()
    request = emulators.emulators.polly.requests[0]
    assert (request["OutputFormat"], request["SampleRate"]) == ("pcm", "16000")


@pytest.mark.parametrize(("adapter_class", "variant"), CASES)
async def test_barge_in_stops_speech_and_skips_the_remaining_sentences(
        settings: SimpleNamespace, emulators: EmulatorServer, compiled: CompiledRegistry,
        adapter_class: type[PipelineAdapter], variant: str) -> None:
    adapter = adapter_class(settings)
    session = await adapter.open_session(context(compiled, variant))
    try:
        seen: list[BackendEvent] = []
        async for event in session.run_turn(speech()):
            seen.append(event)
            if isinstance(event, AudioChunk):
                await session.barge_in()
        assert seen[-1] == TurnEnd("INTERRUPTED")
        assert sum(isinstance(e, AudioChunk) for e in seen) == 1
        e = emulators.emulators
        synthesized = len(e.polly.requests) if variant == M1 else len(e.sagemaker.requests)
        assert synthesized < len(sentences())
        again = [ev async for ev in session.run_turn(speech())]
        assert again[-1] == TurnEnd("END_TURN")
    finally:
        await session.close()
        await adapter.aclose()


FAULTS = [
    pytest.param("transcribe", Fault.THROTTLE, "throttled", id="transcribe-throttled"),
    pytest.param("transcribe", Fault.STREAM_ERROR, "stream_error", id="transcribe-mid-stream-error"),
    pytest.param("converse", Fault.THROTTLE, "throttled", id="bedrock-throttled"),
    pytest.param("converse", Fault.STREAM_ERROR, "stream_error", id="bedrock-mid-stream-error"),
    pytest.param("converse", Fault.MODEL_TIMEOUT, "timeout", id="bedrock-model-timeout"),
    pytest.param("converse", Fault.STALL, "timeout", id="bedrock-stalls"),
]


@pytest.mark.parametrize(("service", "fault", "code"), [
    *FAULTS,
    pytest.param("polly", Fault.THROTTLE, "throttled", id="polly-throttled"),
    pytest.param("polly", Fault.STALL, "timeout", id="polly-stalls"),
])
async def test_m1_failures_are_retryable_backend_errors(
        settings: SimpleNamespace, emulators: EmulatorServer, compiled: CompiledRegistry, service: str,
        fault: Fault, code: str) -> None:
    getattr(emulators.emulators, service).behaviour.inject(fault)
    settings.turn_timeout_seconds = 1.0
    adapter = M1PipelineAdapter(settings)
    try:
        with pytest.raises(BackendError) as caught:
            await turn(adapter, compiled, M1)
        assert (caught.value.code, caught.value.retryable) == (code, True)
        events = await turn(adapter, compiled, M1)  # the next turn is unaffected
        assert events[-1] == TurnEnd("END_TURN")
    finally:
        await adapter.aclose()


@pytest.mark.parametrize(("fault", "code"), [
    pytest.param(Fault.STREAM_ERROR, "stream_error", id="mid-stream-error"),
    pytest.param(Fault.MODEL_TIMEOUT, "timeout", id="model-timeout"),
    pytest.param(Fault.THROTTLE, "throttled", id="throttled"),
    pytest.param(Fault.STALL, "timeout", id="stalls"),
])
async def test_csm_sagemaker_failures_are_retryable_backend_errors(
        settings: SimpleNamespace, emulators: EmulatorServer, compiled: CompiledRegistry, fault: Fault,
        code: str) -> None:
    emulators.emulators.sagemaker.behaviour.inject(fault)
    # Only a stall needs the client's own timeout to end the turn; the other faults arrive from the service, and a
    # short timeout would race them on a loaded machine (the turn's earlier M1 stages take their time too).
    settings.turn_timeout_seconds = 1.0 if fault is Fault.STALL else 15.0
    adapter = CsmSageMakerAdapter(settings)
    try:
        with pytest.raises(BackendError) as caught:
            await turn(adapter, compiled, CSM)
        assert (caught.value.code, caught.value.retryable) == (code, True)
    finally:
        await adapter.aclose()


async def test_csm_without_an_endpoint_is_a_non_retryable_error(
        settings: SimpleNamespace, emulators: EmulatorServer, compiled: CompiledRegistry) -> None:
    adapter = CsmSageMakerAdapter(settings)
    ctx = context(compiled, CSM)
    ctx = type(ctx)(**{**ctx.__dict__, "config": ctx.config.model_copy(update={"sagemaker_endpoint": None})})
    session = await adapter.open_session(ctx)
    try:
        with pytest.raises(BackendError) as caught:
            _ = [e async for e in session.run_turn(speech())]
        assert not caught.value.retryable
    finally:
        await adapter.aclose()
