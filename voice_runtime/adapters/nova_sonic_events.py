"""Nova Sonic's JSON event protocol, as pure builders (what we send) and a parser (what we receive).

Every event is `{"event": {<name>: {...}}}`, carried base64-free as the `bytes` of a BidirectionalInputPayloadPart /
BidirectionalOutputPayloadPart. Shapes follow the Amazon Nova user guide ("Handling input events with the
bidirectional API" and "output events") and the aws-samples Nova Sonic speech-to-speech samples; fixtures in
tests/fixtures/nova_sonic/ pin them.

Input order within one stream: sessionStart, promptStart (with the tools offered), (contentStart TEXT SYSTEM,
textInput, contentEnd), [history text blocks], contentStart AUDIO USER (interactive), audioInput..., then on close
contentEnd (audio), promptEnd, sessionEnd. A tool the model asks for (toolUse output) is answered with its own
non-interactive block while the audio block stays open: contentStart TOOL (toolResultInputConfiguration naming the
toolUseId), toolResult, contentEnd.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

INPUT_RATE = 16_000
OUTPUT_RATE = 24_000
INTERRUPTED_RE = re.compile(r'"?interrupted"?\s*:\s*true', re.IGNORECASE)

Event = dict[str, Any]


def _wrap(name: str, body: dict[str, Any]) -> Event:
    return {"event": {name: body}}


def session_start(max_tokens: int = 1024, top_p: float = 0.9, temperature: float = 0.7) -> Event:
    """sessionStart with its inferenceConfiguration."""
    return _wrap("sessionStart", {"inferenceConfiguration": {
        "maxTokens": max_tokens, "topP": top_p, "temperature": temperature}})


def prompt_start(prompt_name: str, voice_id: str = "matthew", tools: list[dict[str, Any]] | None = None) -> Event:
    """promptStart: text, 24 kHz LPCM audio (voice) and tool-use output configuration, and the tools offered."""
    body: dict[str, Any] = {
        "promptName": prompt_name,
        "textOutputConfiguration": {"mediaType": "text/plain"},
        "audioOutputConfiguration": {
            "mediaType": "audio/lpcm", "sampleRateHertz": OUTPUT_RATE, "sampleSizeBits": 16, "channelCount": 1,
            "voiceId": voice_id, "encoding": "base64", "audioType": "SPEECH",
        },
        "toolUseOutputConfiguration": {"mediaType": "application/json"},
    }
    if tools:  # only offered when there are some: an empty tool list is not what the samples send
        body["toolConfiguration"] = {"tools": list(tools)}
    return _wrap("promptStart", body)


def text_content_start(prompt_name: str, content_name: str, role: Literal["SYSTEM", "USER", "ASSISTANT"],
                       *, interactive: bool = False) -> Event:
    """contentStart of a TEXT block (the system prompt, or conversation history carried into a fresh stream)."""
    return _wrap("contentStart", {
        "promptName": prompt_name, "contentName": content_name, "type": "TEXT", "interactive": interactive,
        "role": role, "textInputConfiguration": {"mediaType": "text/plain"},
    })


def text_input(prompt_name: str, content_name: str, content: str) -> Event:
    return _wrap("textInput", {"promptName": prompt_name, "contentName": content_name, "content": content})


def content_end(prompt_name: str, content_name: str) -> Event:
    return _wrap("contentEnd", {"promptName": prompt_name, "contentName": content_name})


def audio_content_start(prompt_name: str, content_name: str) -> Event:
    """The one interactive USER audio block of a stream: 16 kHz 16-bit mono LPCM, base64."""
    return _wrap("contentStart", {
        "promptName": prompt_name, "contentName": content_name, "type": "AUDIO", "interactive": True,
        "role": "USER", "audioInputConfiguration": {
            "mediaType": "audio/lpcm", "sampleRateHertz": INPUT_RATE, "sampleSizeBits": 16, "channelCount": 1,
            "audioType": "SPEECH", "encoding": "base64",
        },
    })


def audio_input(prompt_name: str, content_name: str, pcm: bytes) -> Event:
    return _wrap("audioInput", {"promptName": prompt_name, "contentName": content_name,
                                "content": base64.b64encode(pcm).decode("ascii")})


def audio_input_json(prompt_name: str, content_name: str, pcm: bytes) -> bytes:
    """`encode(audio_input(...))`, written directly: the event a conversation sends most, and base64 text needs no
    JSON escaping, so the encoder's scan of it is skipped."""
    return (b'{"event":{"audioInput":{"promptName":' + json.dumps(prompt_name).encode()
            + b',"contentName":' + json.dumps(content_name).encode()
            + b',"content":"' + base64.b64encode(pcm) + b'"}}}')


def prompt_end(prompt_name: str) -> Event:
    return _wrap("promptEnd", {"promptName": prompt_name})


def session_end() -> Event:
    return _wrap("sessionEnd", {})


def tool_spec(name: str, description: str, input_schema: dict[str, Any]) -> dict[str, Any]:
    """One entry of promptStart's toolConfiguration.tools (the input JSON Schema travels as a JSON string)."""
    return {"toolSpec": {"name": name, "description": description,
                         "inputSchema": {"json": json.dumps(input_schema, separators=(",", ":"))}}}


def tool_result_events(prompt_name: str, content_name: str, tool_use_id: str, result: Any) -> list[Event]:
    """The block answering one toolUse: contentStart TOOL naming its toolUseId, toolResult (JSON text), contentEnd."""
    content = result if isinstance(result, str) else json.dumps(result, separators=(",", ":"))
    return [
        _wrap("contentStart", {
            "promptName": prompt_name, "contentName": content_name, "interactive": False, "type": "TOOL",
            "role": "TOOL", "toolResultInputConfiguration": {
                "toolUseId": tool_use_id, "type": "TEXT", "textInputConfiguration": {"mediaType": "text/plain"}},
        }),
        _wrap("toolResult", {"promptName": prompt_name, "contentName": content_name, "content": content}),
        content_end(prompt_name, content_name),
    ]


def opening_events(prompt_name: str, system_prompt: str, audio_content: str, *, voice_id: str = "matthew",
                   history: list[tuple[str, str]] | None = None,
                   tools: list[dict[str, Any]] | None = None) -> list[Event]:
    """Everything sent when a stream opens, in the documented order, up to the open USER audio block.

    `history` is (role, text) pairs carried over when a long conversation is handed to a fresh stream; `tools` are
    `tool_spec` entries offered to the model.
    """
    events = [session_start(), prompt_start(prompt_name, voice_id, tools)]
    blocks: list[tuple[Literal["SYSTEM", "USER", "ASSISTANT"], str]] = [("SYSTEM", system_prompt)]
    for role, text in history or []:
        blocks.append(("ASSISTANT" if role == "assistant" else "USER", text))
    for index, (role, text) in enumerate(blocks):
        name = f"{prompt_name}-text-{index}"
        events += [text_content_start(prompt_name, name, role), text_input(prompt_name, name, text),
                   content_end(prompt_name, name)]
    events.append(audio_content_start(prompt_name, audio_content))
    return events


def closing_events(prompt_name: str, audio_content: str) -> list[Event]:
    """Closing order: end the audio block, then the prompt, then the session."""
    return [content_end(prompt_name, audio_content), prompt_end(prompt_name), session_end()]


def encode(event: Event) -> bytes:
    """Compact JSON bytes for a BidirectionalInputPayloadPart."""
    return json.dumps(event, separators=(",", ":")).encode()


def event_name(event: Event) -> str:
    """The single key under "event" ('' when the shape is wrong)."""
    inner = event.get("event")
    return next(iter(inner)) if isinstance(inner, dict) and len(inner) == 1 else ""


# ----------------------------------------------------------------------------------------------------- output side


@dataclass(frozen=True)
class ContentStarted:
    content_id: str
    role: str
    kind: str  # TEXT | AUDIO | TOOL
    stage: str  # SPECULATIVE | FINAL | '' when not given


@dataclass(frozen=True)
class TextOut:
    content_id: str
    role: str
    text: str


@dataclass(frozen=True)
class Interrupted:
    """The model's `{ "interrupted" : true }` marker: it heard the user talk over it."""

    content_id: str


@dataclass(frozen=True)
class AudioOut:
    content_id: str
    pcm: bytes


@dataclass(frozen=True)
class ContentEnded:
    content_id: str
    kind: str
    stop_reason: str  # PARTIAL_TURN | END_TURN | INTERRUPTED | TOOL_USE


@dataclass(frozen=True)
class CompletionEnded:
    stop_reason: str


@dataclass(frozen=True)
class UsageOut:
    input_tokens: int
    output_tokens: int
    detail: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class ToolUse:
    """The model asks for a tool: answer with `tool_result_events` for `tool_use_id`."""

    content_id: str
    tool_use_id: str
    name: str
    input: dict[str, Any]


@dataclass(frozen=True)
class Ignored:
    """An event we accept but do not act on (completionStart...)."""

    name: str


OutputEvent = (ContentStarted | TextOut | Interrupted | AudioOut | ContentEnded | CompletionEnded | UsageOut
               | ToolUse | Ignored)


def tool_input(content: Any) -> dict[str, Any]:
    """toolUse `content` is the tool's input as a JSON *string*; tolerate a dict, and read junk as no input."""
    if isinstance(content, str):
        try:
            content = json.loads(content) if content.strip() else {}
        except ValueError:
            return {}
    return content if isinstance(content, dict) else {}


def generation_stage(additional: Any) -> str:
    """`additionalModelFields` is a JSON *string* ('{"generationStage":"FINAL"}'); tolerate a dict or junk."""
    if isinstance(additional, str):
        try:
            additional = json.loads(additional)
        except ValueError:
            return ""
    if isinstance(additional, dict):
        return str(additional.get("generationStage", ""))
    return ""


def is_interrupted_marker(text: str) -> bool:
    """Loose match: the service has sent `{ "interrupted" : true }` with varying spacing."""
    stripped = text.strip()
    if not stripped.startswith("{"):
        return False
    try:
        value = json.loads(stripped)
    except ValueError:
        return bool(INTERRUPTED_RE.search(stripped))
    return isinstance(value, dict) and value.get("interrupted") is True


def _usage_detail(body: dict[str, Any]) -> dict[str, int]:
    detail: dict[str, int] = {}
    delta = body.get("details", {}).get("delta", {})
    for direction in ("input", "output"):
        for kind, count in (delta.get(direction) or {}).items():
            if isinstance(count, int):
                detail[f"{direction}_{kind}"] = count
    return detail


def parse_output(payload: bytes | str) -> OutputEvent:
    """One output payload (JSON bytes) -> a typed event. Raises ValueError on malformed JSON or shape."""
    data = json.loads(payload)
    if not isinstance(data, dict):
        raise ValueError("Nova Sonic output is not a JSON object")
    name = event_name(data)
    if not name:
        raise ValueError(f"not a Nova Sonic event: {str(data)[:80]}")
    body = data["event"][name]
    content_id = str(body.get("contentId", ""))
    match name:
        case "contentStart":
            return ContentStarted(content_id, str(body.get("role", "")), str(body.get("type", "")),
                                  generation_stage(body.get("additionalModelFields")))
        case "textOutput":
            text = str(body.get("content", ""))
            if is_interrupted_marker(text):
                return Interrupted(content_id)
            return TextOut(content_id, str(body.get("role", "")), text)
        case "audioOutput":
            return AudioOut(content_id, base64.b64decode(body.get("content", "")))
        case "contentEnd":
            return ContentEnded(content_id, str(body.get("type", "")), str(body.get("stopReason", "")))
        case "completionEnd":
            return CompletionEnded(str(body.get("stopReason", "")))
        case "toolUse":
            return ToolUse(content_id, str(body.get("toolUseId", "")), str(body.get("toolName", "")),
                           tool_input(body.get("content")))
        case "usageEvent":
            # Nova reports running totals; the delta is what this event adds, so the cost model sums deltas.
            detail = _usage_detail(body)
            delta_in = sum(v for k, v in detail.items() if k.startswith("input_"))
            delta_out = sum(v for k, v in detail.items() if k.startswith("output_"))
            return UsageOut(delta_in, delta_out, detail)
        case _:
            return Ignored(name)


@dataclass
class ReplyProgress:
    """How far one turn's reply has got, from its content blocks (pure bookkeeping).

    The service speaks a reply in sentence segments: per segment a SPECULATIVE text block, an AUDIO block (ended
    PARTIAL_TURN, or END_TURN on the last) and, once the segment has been played, a FINAL text block of what was
    said. The last AUDIO END_TURN comes before the last FINAL text, but either order is read the same: the reply is
    complete when its audio has ended and every segment announced has its FINAL text.
    """

    speculative: int = 0
    finals: int = 0
    audio_done: bool = False
    audio_bytes: int = 0
    first_audio_at: float | None = None

    def heard(self, nbytes: int, now: float) -> None:
        if self.first_audio_at is None:
            self.first_audio_at = now
        self.audio_bytes += nbytes

    def ended(self, kind: str, stage: str, stop_reason: str) -> None:
        if kind == "AUDIO" and stop_reason == "END_TURN":
            self.audio_done = True
        elif kind == "TEXT" and stage == "SPECULATIVE":
            self.speculative += 1
        elif kind == "TEXT":
            self.finals += 1

    @property
    def complete(self) -> bool:
        return self.audio_done and self.finals >= self.speculative

    def played_by(self) -> float:
        """When the audio relayed so far has been played (24 kHz s16le from the first audio)."""
        start = self.first_audio_at if self.first_audio_at is not None else 0.0
        return start + self.audio_bytes / (OUTPUT_RATE * 2)
