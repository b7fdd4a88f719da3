"""What Nova Sonic accepts and how it takes turns, as pure functions of a stream's state (the emulator's spec).

Each rule names its source (tests/fixtures/nova_sonic/SOURCES.md has the pages):

* input events, their order and their required configuration: the user guide's "Handling input events with the
  bidirectional API" and the samples' event templates; anything else is answered, on the stream, with the
  Bedrock API reference's `ValidationException` (an exception event `validationException`, `{"message": ...}`),
  after which the service ends the stream;
* model ids: the API reference (`amazon.nova-sonic-v1:0`; the Nova 2 user guide adds `amazon.nova-2-sonic-v1:0`);
* voices: the user guide's "Voices available for Amazon Nova Sonic";
* output sample rates: the user guide's audioOutputConfiguration (8, 16 or 24 kHz LPCM);
* end of speech: the Nova 2 user guide's "Turn-taking controllability" (a pause of 1.5 / 1.75 / 2 s for
  endpointingSensitivity HIGH / MEDIUM / LOW, set in sessionStart's turnDetectionConfiguration). Nova Sonic v1
  takes no such setting and documents no pause; the emulator gives it HIGH's 1.5 s, the shortest documented.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

MODELS = frozenset({"amazon.nova-sonic-v1:0", "amazon.nova-2-sonic-v1:0"})
TURN_DETECTION_MODELS = frozenset({"amazon.nova-2-sonic-v1:0"})
VOICES = frozenset({"tiffany", "matthew", "amy", "ambre", "florian", "beatrice", "lorenzo", "greta", "lennart",
                    "lupe", "carlos"})
OUTPUT_RATES = frozenset({8_000, 16_000, 24_000})
INPUT_RATES = frozenset({8_000, 16_000, 24_000})
PAUSE_SECONDS = {"HIGH": 1.5, "MEDIUM": 1.75, "LOW": 2.0}
DEFAULT_PAUSE_SECONDS = PAUSE_SECONDS["HIGH"]
INPUT_EVENTS = frozenset({"sessionStart", "promptStart", "contentStart", "textInput", "audioInput", "toolResult",
                          "contentEnd", "promptEnd", "sessionEnd"})
CONTENT_FOR = {"textInput": "TEXT", "audioInput": "AUDIO", "toolResult": "TOOL"}
CONFIGURATION_FOR = {"TEXT": "textInputConfiguration", "AUDIO": "audioInputConfiguration",
                     "TOOL": "toolResultInputConfiguration"}


@dataclass
class StreamState:
    """What the service knows of one stream's input so far."""

    model_id: str
    session_started: bool = False
    session_ended: bool = False
    prompt_name: str | None = None
    prompt_open: bool = False
    pause_seconds: float = DEFAULT_PAUSE_SECONDS
    output_rate: int = 24_000
    input_rate: int = 16_000
    voice: str = ""
    contents: dict[str, str] = field(default_factory=dict)  # open input content blocks: contentName -> type
    tools: list[str] = field(default_factory=list)


def decode_audio(content: Any) -> bytes | None:
    """An audioInput's base64 content, None when it is not valid base64 (which the service refuses)."""
    if not isinstance(content, str):
        return None
    try:
        return base64.b64decode(content, validate=True)
    except (binascii.Error, ValueError):
        return None


def model_problem(model_id: str) -> str | None:
    if model_id not in MODELS:
        return f"The provided model identifier is invalid: {model_id}"
    return None


def event_of(payload: Any) -> tuple[str, dict[str, Any]] | str:
    """(name, body) of one input event, or the problem with it."""
    if not isinstance(payload, dict) or not isinstance(payload.get("event"), dict) or len(payload["event"]) != 1:
        return "Invalid input event: expected {\"event\": {<name>: {...}}}"
    ((name, body),) = payload["event"].items()
    if name not in INPUT_EVENTS:
        return f"Invalid input event: unknown event type {name}"
    if not isinstance(body, dict):
        return f"Invalid input event: {name} must be an object"
    return name, body


def apply(state: StreamState, name: str, body: dict[str, Any]) -> str | None:
    """Check one input event against the stream's state and, when it is acceptable, record it; the problem (the
    ValidationException message) otherwise."""
    if state.session_ended:
        return f"Invalid input: {name} after sessionEnd"
    if not state.session_started:
        return _session_start(state, body) if name == "sessionStart" else f"sessionStart must come first, got {name}"
    if name == "sessionStart":
        return "Invalid input: sessionStart sent twice"
    if name == "promptStart":
        return _prompt_start(state, body)
    if name == "sessionEnd":
        if state.prompt_open:
            return "Invalid input: sessionEnd before promptEnd"
        state.session_ended = True
        return None
    if not state.prompt_open:
        return f"Invalid input: {name} outside a prompt (promptStart first)"
    if body.get("promptName") != state.prompt_name:
        return f"Invalid input: {name} names promptName {body.get('promptName')!r}, not the open prompt"
    if name == "promptEnd":
        # Open content blocks end with the prompt: pipecat's AWSNovaSonicLLMService (a maintained client of the
        # real service) ends its prompt without first ending its audio block, so the service accepts that.
        state.contents.clear()
        state.prompt_open = False
        return None
    content = body.get("contentName")
    if not isinstance(content, str) or not content:
        return f"Invalid input: {name} without a contentName"
    if name == "contentStart":
        return _content_start(state, content, body)
    kind = state.contents.get(content)
    if name == "contentEnd":
        if kind is None:
            return f"Invalid input: contentEnd for {content}, which is not open"
        del state.contents[content]
        return None
    if kind != CONTENT_FOR[name]:
        return f"Invalid input: {name} for {content}, which is not an open {CONTENT_FOR[name]} content block"
    if name == "audioInput" and decode_audio(body.get("content")) is None:
        return "Invalid input: audioInput content is not valid base64"
    if name in ("textInput", "toolResult") and not isinstance(body.get("content"), str):
        return f"Invalid input: {name} content must be a string"
    return None


def _session_start(state: StreamState, body: dict[str, Any]) -> str | None:
    if not isinstance(body.get("inferenceConfiguration"), dict):
        return "Invalid input: sessionStart requires inferenceConfiguration"
    detection = body.get("turnDetectionConfiguration")
    if detection is not None:
        sensitivity = detection.get("endpointingSensitivity") if isinstance(detection, dict) else None
        if sensitivity not in PAUSE_SECONDS:
            return f"Invalid input: endpointingSensitivity must be one of HIGH, MEDIUM, LOW, got {sensitivity!r}"
        if state.model_id in TURN_DETECTION_MODELS:
            state.pause_seconds = PAUSE_SECONDS[sensitivity]
    state.session_started = True
    return None


def _prompt_start(state: StreamState, body: dict[str, Any]) -> str | None:
    if state.prompt_open or state.prompt_name is not None:
        return "Invalid input: a second promptStart (one prompt per stream)"
    name = body.get("promptName")
    if not isinstance(name, str) or not name:
        return "Invalid input: promptStart requires promptName"
    if not isinstance(body.get("textOutputConfiguration"), dict):
        return "Invalid input: promptStart requires textOutputConfiguration"
    audio = body.get("audioOutputConfiguration")
    if not isinstance(audio, dict):
        return "Invalid input: promptStart requires audioOutputConfiguration"
    if audio.get("voiceId") not in VOICES:
        return f"Invalid input: unknown voiceId {audio.get('voiceId')!r}"
    if audio.get("sampleRateHertz") not in OUTPUT_RATES:
        return f"Invalid input: audioOutputConfiguration.sampleRateHertz {audio.get('sampleRateHertz')!r} is not " \
               f"one of {sorted(OUTPUT_RATES)}"
    if audio.get("mediaType") != "audio/lpcm":
        return f"Invalid input: audioOutputConfiguration.mediaType {audio.get('mediaType')!r} is not audio/lpcm"
    tools = (body.get("toolConfiguration") or {}).get("tools") or []
    names = []
    for tool in tools:
        spec = tool.get("toolSpec") if isinstance(tool, dict) else None
        if not isinstance(spec, dict) or not spec.get("name") or not isinstance(
                (spec.get("inputSchema") or {}).get("json"), str):
            return "Invalid input: each tool needs toolSpec.name and toolSpec.inputSchema.json (a JSON string)"
        names.append(str(spec["name"]))
    state.prompt_name, state.prompt_open = name, True
    state.voice, state.output_rate, state.tools = str(audio["voiceId"]), int(audio["sampleRateHertz"]), names
    return None


def _content_start(state: StreamState, content: str, body: dict[str, Any]) -> str | None:
    kind = body.get("type")
    if kind not in CONFIGURATION_FOR:
        return f"Invalid input: contentStart type {kind!r} is not TEXT, AUDIO or TOOL"
    if content in state.contents:
        return f"Invalid input: contentStart for {content}, which is already open"
    configuration = body.get(CONFIGURATION_FOR[kind])
    if not isinstance(configuration, dict):
        return f"Invalid input: a {kind} contentStart requires {CONFIGURATION_FOR[kind]}"
    if kind == "AUDIO":
        if configuration.get("sampleRateHertz") not in INPUT_RATES:
            return f"Invalid input: audioInputConfiguration.sampleRateHertz {configuration.get('sampleRateHertz')!r}"
        state.input_rate = int(configuration["sampleRateHertz"])
    state.contents[content] = str(kind)
    return None


@dataclass
class Endpointer:
    """End of speech from audio time: speech, then `pause_seconds` of audio without it (the model hears the pause in
    the audio it is given, however fast that arrives). Fed 20 ms windows' voiced flags."""

    pause_seconds: float
    window_seconds: float = 0.02
    in_speech: bool = False
    silence: float = 0.0

    def feed(self, voiced: list[bool]) -> tuple[bool, int | None]:
        """(speech started in this audio, the window index where the pause completed, if it did)."""
        started = False
        for index, flag in enumerate(voiced):
            if flag:
                started = started or not self.in_speech
                self.in_speech, self.silence = True, 0.0
            elif self.in_speech:
                self.silence += self.window_seconds
                if self.silence >= self.pause_seconds - 1e-9:
                    self.in_speech, self.silence = False, 0.0
                    return started, index
        return started, None


def speech_tokens(seconds: float) -> int:
    """Speech tokens for this much audio. Nova Sonic bills speech tokens on all audio it is given, silence
    included; AWS does not document the rate, so the emulator counts 25 per second."""
    return round(seconds * 25)


def text_tokens(text: str) -> int:
    """Text tokens, about one per word (a stand-in: the tokenizer is not documented)."""
    return len(text.split())
