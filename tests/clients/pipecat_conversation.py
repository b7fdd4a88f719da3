"""pipecat's AWSNovaSonicLLMService (pipecat-ai 1.14.0, in .venv-tools/pipecat) in a pipecat pipeline against the
Nova Sonic emulator: 3 user turns, a barge-in and a tool call; prints what pipecat saw and its LLM context as JSON.

The pipeline is pipecat's own (a user and an assistant context aggregator around the service); the service is
subclassed only to point its client's endpoint and certificate trust at the emulator (pipecat hard-codes the AWS
endpoint). The "microphone" pushes 20 ms InputAudioRawFrames at real time: a voice-like tone per turn, silence
between turns, as a live microphone would.

Usage: python pipecat_conversation.py ENDPOINT CA_FILE
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from aws_sdk_bedrock_runtime.client import BedrockRuntimeClient
from aws_sdk_bedrock_runtime.config import Config
from client_support import EmulatorTrust, tone, until  # the script's own folder (run as a script)
from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.adapters.llm.schemas.tools_schema import ToolsSchema
from pipecat.frames.frames import (
    Frame,
    InputAudioRawFrame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMRunFrame,
    TTSAudioRawFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.aggregators.llm_context import LLMContext
from pipecat.processors.aggregators.llm_response_universal import LLMContextAggregatorPair
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.services.aws.nova_sonic.llm import AWSNovaSonicLLMService
from pipecat.services.llm_service import FunctionCallParams
from pipecat.workers.runner import WorkerRunner
from smithy_aws_core.auth.sigv4 import SigV4AuthScheme
from smithy_aws_core.identity.static import StaticCredentialsResolver
from smithy_core.shapes import ShapeID

RATE = 16_000
FRAME_MS = 20


class EmulatorNovaSonic(AWSNovaSonicLLMService):
    """pipecat's service with its client's endpoint and trust pointed at the emulator; nothing else changed."""

    def __init__(self, endpoint: str, ca_file: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._endpoint, self._ca_file = endpoint, ca_file

    def create_client(self) -> BedrockRuntimeClient:
        config = Config(endpoint_uri=self._endpoint, region=self._region, aws_access_key_id=self._access_key_id,
                        aws_secret_access_key=self._secret_access_key, aws_session_token=self._session_token,
                        aws_credentials_identity_resolver=StaticCredentialsResolver(),
                        auth_schemes={ShapeID("aws.auth#sigv4"): SigV4AuthScheme(service="bedrock")},
                        transport=EmulatorTrust(self._ca_file))
        return BedrockRuntimeClient(config=config)



class Microphone(FrameProcessor):
    """Pushes `say(ms)` of voice, otherwise silence, in 20 ms frames at real time."""

    def __init__(self) -> None:
        super().__init__()
        self._voice = b""
        self._running = False

    def say(self, ms: int) -> None:
        self._voice += tone(ms)

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        await self.push_frame(frame, direction)

    async def run(self, stop: asyncio.Event) -> None:
        step = 2 * RATE * FRAME_MS // 1000
        while not stop.is_set():
            chunk, self._voice = self._voice[:step], self._voice[step:]
            chunk = chunk.ljust(step, b"\0")
            await self.push_frame(InputAudioRawFrame(audio=chunk, sample_rate=RATE, num_channels=1))
            await asyncio.sleep(FRAME_MS / 1000)


class Listener(FrameProcessor):
    """Counts what pipecat sends to the output: audio, finished responses, interruptions."""

    def __init__(self) -> None:
        super().__init__()
        self.audio_bytes = 0
        self.responses = 0
        self.interruptions = 0

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TTSAudioRawFrame):
            self.audio_bytes += len(frame.audio)
        elif isinstance(frame, LLMFullResponseEndFrame):
            self.responses += 1
        elif isinstance(frame, InterruptionFrame):
            self.interruptions += 1
        await self.push_frame(frame, direction)



async def main(endpoint: str, ca_file: str) -> None:
    tool_calls: list[dict[str, Any]] = []

    async def date_and_time(params: FunctionCallParams) -> None:
        tool_calls.append(dict(params.arguments))
        await params.result_callback({"date": "2026-12-04", "formattedTime": "06:30 PM", "timezone": "PST"})

    tools = ToolsSchema(standard_tools=[FunctionSchema(
        name="getDateAndTimeTool", description="get the current date and time", properties={}, required=[])])
    context = LLMContext(messages=[{"role": "system", "content": "You are a friend. Keep your answers short."}],
                         tools=tools)
    aggregators = LLMContextAggregatorPair(context)
    llm = EmulatorNovaSonic(endpoint, ca_file, secret_access_key="emulated", access_key_id="emulated",
                            region="us-east-1", settings=AWSNovaSonicLLMService.Settings(
                                model="amazon.nova-2-sonic-v1:0", voice="matthew"))
    llm.register_function("getDateAndTimeTool", date_and_time)
    mic, listener = Microphone(), Listener()
    pipeline = Pipeline([mic, aggregators.user(), llm, listener, aggregators.assistant()])
    worker = PipelineWorker(pipeline, params=PipelineParams(audio_in_sample_rate=RATE), cancel_on_idle_timeout=False)
    stop, started = asyncio.Event(), asyncio.Event()
    runner = WorkerRunner(handle_sigint=False)

    @worker.event_handler("on_pipeline_started")
    async def _started(*_: Any) -> None:
        started.set()

    async def converse() -> None:
        await asyncio.wait_for(started.wait(), 20)
        await worker.queue_frames([LLMRunFrame()])
        microphone = asyncio.create_task(mic.run(stop))
        try:
            mic.say(500)  # turn 1, heard to its end
            await until(lambda: listener.responses >= 1)
            heard = listener.audio_bytes
            await asyncio.sleep(3.0)  # the 2.5 s reply plays out (pipecat ends the response when the audio ends)
            mic.say(500)  # turn 2...
            await until(lambda: listener.audio_bytes > heard)
            await asyncio.sleep(0.3)
            mic.say(500)  # ...talked over while its reply plays: turn 3, which uses a tool
            await until(lambda: tool_calls and listener.responses >= 3, 45)
            await asyncio.sleep(3.0)  # its reply plays out, then the context is final
        finally:
            stop.set()
            await microphone
            await worker.cancel()

    await runner.add_workers(worker)
    await asyncio.gather(runner.run(), converse())
    messages = [{"role": m.get("role"), "content": m.get("content"), "tool_calls": bool(m.get("tool_calls"))}
                for m in context.get_messages() if isinstance(m, dict)]
    print(json.dumps({"messages": messages, "tool_calls": tool_calls, "audio_bytes": listener.audio_bytes,
                      "responses": listener.responses, "interruptions": listener.interruptions}, default=str))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
