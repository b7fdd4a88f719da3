"""NOT AWS's sample: an equivalent of the event handling of aws-samples/amazon-nova-samples'
speech-to-speech/amazon-nova-2-sonic/sample-codes/console-python/nova_sonic_tool_use.py, written here because the
sample's source may not be committed and is published on no package registry.

It keeps what the sample does on the wire, with the sample's SDK (aws-sdk-bedrock-runtime 0.9 and its class
names: `BedrockRuntimeClient`, `Config`) and run in that SDK's own virtualenv (.venv-tools/nova-sample):

* the opening: sessionStart (maxTokens 1024, topP 0.9, temperature 0.7), promptStart with 24 kHz `matthew` audio
  output, tool-use output configuration and the sample's two tools (getDateAndTimeTool, trackOrderTool, input
  schemas as JSON strings), a SYSTEM text block, then one interactive USER AUDIO block of 16 kHz base64 LPCM,
  audio sent as it is "captured" (1,024-frame chunks at real time, as the sample's microphone callback does);
* receiving: `await_output()` then `receive()` per event; contentStart sets the role and whether the text is the
  SPECULATIVE preview; a textOutput containing `{ "interrupted" : true }` is the barge-in signal (the queued audio
  is dropped); toolUse is remembered and run when its `contentEnd` of type TOOL arrives, answered with contentStart
  TOOL (toolResultInputConfiguration naming the toolUseId), toolResult, contentEnd;
* closing: the audio contentEnd, promptEnd, sessionEnd, then the input stream closed.

What differs from the sample: the endpoint and the certificate trust point at the emulator (the only change the
test allows), the microphone is a generated voice-like tone and silence, and what it saw is printed as JSON.

Usage: python nova_sample_client.py ENDPOINT CA_FILE  (prints one JSON object on stdout)
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import sys
import uuid

from aws_sdk_bedrock_runtime.client import BedrockRuntimeClient, InvokeModelWithBidirectionalStreamOperationInput
from aws_sdk_bedrock_runtime.config import Config
from aws_sdk_bedrock_runtime.models import BidirectionalInputPayloadPart, InvokeModelWithBidirectionalStreamInputChunk
from client_support import EmulatorTrust, tone, until  # the script's own folder (run as a script)
from smithy_aws_core.identity.environment import EnvironmentCredentialsResolver

INPUT_RATE = 16_000
CHUNK_FRAMES = 1024  # the sample's CHUNK_SIZE
MODEL_ID = "amazon.nova-2-sonic-v1:0"



def quiet(ms: int) -> bytes:
    return bytes(2 * INPUT_RATE * ms // 1000)


def event(name: str, body: dict) -> str:
    return json.dumps({"event": {name: body}})


class Conversation:
    def __init__(self, endpoint: str, ca_file: str) -> None:
        config = Config(endpoint_uri=endpoint, region="us-east-1",
                        aws_credentials_identity_resolver=EnvironmentCredentialsResolver(),
                        transport=EmulatorTrust(ca_file))
        self.client = BedrockRuntimeClient(config=config)
        self.prompt, self.system, self.audio = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
        self.role = ""
        self.speculative = False
        self.barge_in = False
        self.tool_use: dict = {}
        self.seen: dict = {"user": [], "assistant": [], "assistant_final": [], "barge_ins": 0, "tool_results": [],
                           "audio_bytes": 0, "errors": [], "dropped_audio_bytes": 0}
        self.tool_tasks: set[asyncio.Task] = set()  # the sample keeps its pending tool tasks too
        self.playback: list[bytes] = []
        self.stream = None

    async def send(self, text: str) -> None:
        await self.stream.input_stream.send(InvokeModelWithBidirectionalStreamInputChunk(
            value=BidirectionalInputPayloadPart(bytes_=text.encode("utf-8"))))

    async def open(self) -> None:
        self.stream = await self.client.invoke_model_with_bidirectional_stream(
            InvokeModelWithBidirectionalStreamOperationInput(model_id=MODEL_ID))
        no_input = json.dumps({"type": "object", "properties": {}, "required": []})
        order = json.dumps({"type": "object", "properties": {"orderId": {"type": "string"}}, "required": ["orderId"]})
        await self.send(event("sessionStart", {"inferenceConfiguration": {"maxTokens": 1024, "topP": 0.9,
                                                                          "temperature": 0.7}}))
        await self.send(event("promptStart", {
            "promptName": self.prompt, "textOutputConfiguration": {"mediaType": "text/plain"},
            "audioOutputConfiguration": {"mediaType": "audio/lpcm", "sampleRateHertz": 24000, "sampleSizeBits": 16,
                                         "channelCount": 1, "voiceId": "matthew", "encoding": "base64",
                                         "audioType": "SPEECH"},
            "toolUseOutputConfiguration": {"mediaType": "application/json"},
            "toolConfiguration": {"tools": [
                {"toolSpec": {"name": "getDateAndTimeTool", "description": "get the current date and time",
                              "inputSchema": {"json": no_input}}},
                {"toolSpec": {"name": "trackOrderTool", "description": "order status by order id",
                              "inputSchema": {"json": order}}}]}}))
        await self.send(event("contentStart", {"promptName": self.prompt, "contentName": self.system, "type": "TEXT",
                                               "role": "SYSTEM", "interactive": False,
                                               "textInputConfiguration": {"mediaType": "text/plain"}}))
        await self.send(event("textInput", {"promptName": self.prompt, "contentName": self.system,
                                            "content": "You are a friend. Keep your answers short."}))
        await self.send(event("contentEnd", {"promptName": self.prompt, "contentName": self.system}))
        await self.send(event("contentStart", {
            "promptName": self.prompt, "contentName": self.audio, "type": "AUDIO", "interactive": True,
            "role": "USER", "audioInputConfiguration": {"mediaType": "audio/lpcm", "sampleRateHertz": 16000,
                                                        "sampleSizeBits": 16, "channelCount": 1,
                                                        "audioType": "SPEECH", "encoding": "base64"}}))

    async def speak(self, pcm: bytes) -> None:
        """Send `pcm` as the microphone would: 1,024-frame chunks at real time."""
        step = 2 * CHUNK_FRAMES
        for start in range(0, len(pcm), step):
            blob = base64.b64encode(pcm[start:start + step]).decode("utf-8")
            await self.send(event("audioInput", {"promptName": self.prompt, "contentName": self.audio,
                                                 "content": blob}))
            await asyncio.sleep(CHUNK_FRAMES / INPUT_RATE)

    async def receive(self) -> None:
        while True:
            try:
                output = await self.stream.await_output()
                result = await output[1].receive()
            except Exception as exc:
                self.seen["errors"].append(f"{type(exc).__name__}: {exc}")
                return
            if result is None:
                return
            if not (result.value and result.value.bytes_):
                continue
            data = json.loads(result.value.bytes_.decode("utf-8"))["event"]
            if "contentStart" in data:
                start = data["contentStart"]
                self.role = start["role"]
                fields = json.loads(start.get("additionalModelFields", "{}"))
                self.speculative = fields.get("generationStage") == "SPECULATIVE"
            elif "textOutput" in data:
                text = data["textOutput"]["content"]
                if '{ "interrupted" : true }' in text:
                    self.barge_in = True
                    self.seen["barge_ins"] += 1
                    self.seen["dropped_audio_bytes"] += sum(map(len, self.playback))
                    self.playback.clear()  # the sample stops playing what is queued
                elif self.role == "ASSISTANT" and self.speculative:
                    self.seen["assistant"].append(text)
                elif self.role == "ASSISTANT":
                    self.seen["assistant_final"].append(text)
                elif self.role == "USER":
                    self.seen["user"].append(text)
            elif "audioOutput" in data:
                audio = base64.b64decode(data["audioOutput"]["content"])
                self.seen["audio_bytes"] += len(audio)
                self.playback.append(audio)
            elif "toolUse" in data:
                self.tool_use = data["toolUse"]
            elif "contentEnd" in data and data["contentEnd"].get("type") == "TOOL":
                task = asyncio.create_task(self.answer_tool(dict(self.tool_use)))
                self.tool_tasks.add(task)
                task.add_done_callback(self.tool_tasks.discard)

    async def answer_tool(self, use: dict) -> None:
        if use["toolName"].lower() == "getdateandtimetool":
            now = datetime.datetime(2026, 12, 4, 18, 30)
            result = {"formattedTime": now.strftime("%I:%M %p"), "date": now.strftime("%Y-%m-%d"),
                      "dayOfWeek": now.strftime("%A").upper(), "timezone": "PST"}
        else:
            result = {"error": f"Unsupported tool: {use['toolName']}"}
        name = str(uuid.uuid4())
        await self.send(event("contentStart", {"promptName": self.prompt, "contentName": name, "interactive": False,
                                               "type": "TOOL", "role": "TOOL", "toolResultInputConfiguration": {
                                                   "toolUseId": use["toolUseId"], "type": "TEXT",
                                                   "textInputConfiguration": {"mediaType": "text/plain"}}}))
        await self.send(event("toolResult", {"promptName": self.prompt, "contentName": name,
                                             "content": json.dumps(result)}))
        await self.send(event("contentEnd", {"promptName": self.prompt, "contentName": name}))
        self.seen["tool_results"].append(result)

    async def close(self) -> None:
        await self.send(event("contentEnd", {"promptName": self.prompt, "contentName": self.audio}))
        await self.send(event("promptEnd", {"promptName": self.prompt}))
        await self.send(event("sessionEnd", {}))
        await self.stream.input_stream.close()



async def main(endpoint: str, ca_file: str) -> None:
    talk = Conversation(endpoint, ca_file)
    await talk.open()
    receiver = asyncio.create_task(talk.receive())
    pause = quiet(1800)  # longer than the model's end-of-speech pause
    seen = talk.seen
    await talk.speak(tone(500) + pause)  # turn 1, heard to its end
    await until(lambda: len(seen["assistant_final"]) >= 2)
    before = seen["audio_bytes"]
    await talk.speak(tone(500) + pause)  # turn 2...
    await until(lambda: seen["audio_bytes"] > before)
    await asyncio.sleep(0.3)
    await talk.speak(tone(500) + pause)  # ...talked over while its reply plays: turn 3, which uses a tool
    await until(lambda: seen["tool_results"] and any(t.startswith("I looked that up") for t in seen["assistant"]))
    await until(lambda: len(seen["assistant_final"]) >= 3)
    await talk.close()
    await asyncio.wait_for(receiver, 10)
    print(json.dumps(seen))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
