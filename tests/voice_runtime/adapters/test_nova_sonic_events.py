"""Nova Sonic event builders and parser against the documented shapes (tests/fixtures/nova_sonic, see SOURCES.md)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voice_runtime.adapters import nova_sonic_events as ev

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "nova_sonic"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_opening_events_match_the_documented_sequence() -> None:
    expected = json.loads(fixture("input_sequence.json"))
    assert ev.opening_events("P", "SYSTEM PROMPT", "A") == expected


def test_history_is_carried_as_non_interactive_text_blocks_after_the_system_prompt() -> None:
    events = ev.opening_events("P", "sys", "A", history=[("user", "hi"), ("assistant", "hello")])
    starts = [e["event"]["contentStart"] for e in events if ev.event_name(e) == "contentStart"]
    assert [(s["type"], s["role"], s["interactive"]) for s in starts] == [
        ("TEXT", "SYSTEM", False), ("TEXT", "USER", False), ("TEXT", "ASSISTANT", False), ("AUDIO", "USER", True)]


def test_closing_order_is_content_end_prompt_end_session_end() -> None:
    closing = ev.closing_events("P", "A")
    assert [ev.event_name(e) for e in closing] == ["contentEnd", "promptEnd", "sessionEnd"]
    assert closing[0]["event"]["contentEnd"] == {"promptName": "P", "contentName": "A"}


@given(prompt=st.text(max_size=40), content=st.text(max_size=40), pcm=st.binary(max_size=2000))
def test_audio_input_json_is_the_encoded_audio_input_event(prompt: str, content: str, pcm: bytes) -> None:
    assert ev.audio_input_json(prompt, content, pcm) == ev.encode(ev.audio_input(prompt, content, pcm))


def test_audio_input_is_base64_lpcm() -> None:
    event = ev.audio_input("P", "A", b"\x01\x00\xff\x7f")
    assert base64.b64decode(event["event"]["audioInput"]["content"]) == b"\x01\x00\xff\x7f"
    assert json.loads(ev.encode(event)) == event


@pytest.mark.parametrize(("name", "expected"), [
    pytest.param("content_start_asr_user.json", ev.ContentStarted("c-user-1", "USER", "TEXT", "FINAL"), id="asr"),
    pytest.param("content_start_text_speculative.json",
                 ev.ContentStarted("c-asst-1", "ASSISTANT", "TEXT", "SPECULATIVE"), id="speculative"),
    pytest.param("content_start_audio.json", ev.ContentStarted("c-audio-1", "ASSISTANT", "AUDIO", ""), id="audio"),
    pytest.param("text_output_user.json", ev.TextOut("c-user-1", "USER", "what's the weather like in Seattle"),
                 id="user-text"),
    pytest.param("text_output_interrupted.json", ev.Interrupted("c-asst-2"), id="interrupted-marker"),
    pytest.param("content_end_interrupted.json", ev.ContentEnded("c-audio-1", "AUDIO", "INTERRUPTED"), id="barge"),
    pytest.param("content_end_end_turn.json", ev.ContentEnded("c-asst-3", "TEXT", "END_TURN"), id="end-turn"),
    pytest.param("completion_end.json", ev.CompletionEnded("END_TURN"), id="completion-end"),
    pytest.param("completion_start.json", ev.Ignored("completionStart"), id="completion-start"),
    pytest.param("content_start_tool.json", ev.ContentStarted("c-tool-1", "TOOL", "TOOL", ""), id="tool-start"),
    pytest.param("tool_use.json", ev.ToolUse("c-tool-1", "tu-7f3e2a1b", "getWeatherTool", {"location": "Seattle"}),
                 id="tool-use"),
    pytest.param("content_end_tool_use.json", ev.ContentEnded("c-tool-1", "TOOL", "TOOL_USE"), id="tool-end"),
])
def test_output_fixtures_decode(name: str, expected: ev.OutputEvent) -> None:
    assert ev.parse_output(fixture(name)) == expected


def test_audio_output_decodes_to_whole_24khz_samples() -> None:
    out = ev.parse_output(fixture("audio_output.json"))
    assert isinstance(out, ev.AudioOut)
    assert len(out.pcm) == 480 and len(out.pcm) % 2 == 0


def test_usage_event_reports_the_delta_for_the_cost_model() -> None:
    out = ev.parse_output(fixture("usage_event.json"))
    assert out == ev.UsageOut(24, 19, {"input_speechTokens": 24, "input_textTokens": 0,
                                       "output_speechTokens": 13, "output_textTokens": 6})


@pytest.mark.parametrize("text", ['{ "interrupted" : true }', '{"interrupted":true}', '  {"interrupted": true}\n',
                                  "{ interrupted : true }"])
def test_interrupted_marker_is_matched_loosely(text: str) -> None:
    assert ev.is_interrupted_marker(text)


@pytest.mark.parametrize("text", ["interrupted: true is what I said", '{"interrupted": false}', "", "{}"])
def test_ordinary_text_is_not_the_marker(text: str) -> None:
    assert not ev.is_interrupted_marker(text)


@pytest.mark.parametrize("payload", [b"not json", b"[]", b'{"event": {}}', b'{"other": 1}'])
def test_malformed_output_raises_value_error(payload: bytes) -> None:
    with pytest.raises(ValueError):
        ev.parse_output(payload)


def test_generation_stage_tolerates_dicts_and_junk() -> None:
    assert ev.generation_stage({"generationStage": "FINAL"}) == "FINAL"
    assert ev.generation_stage("not json") == ""
    assert ev.generation_stage(None) == ""


def test_tools_are_offered_in_prompt_start_only_when_given() -> None:
    tool = {"toolSpec": {"name": "getWeather", "description": "weather", "inputSchema": {"json": "{}"}}}
    with_tools = ev.prompt_start("P", tools=[tool])["event"]["promptStart"]
    assert with_tools["toolConfiguration"] == {"tools": [tool]}
    assert "toolConfiguration" not in ev.prompt_start("P")["event"]["promptStart"]
    assert with_tools["audioOutputConfiguration"]["sampleRateHertz"] == 24000


def test_tool_result_block_matches_the_documented_sequence() -> None:
    expected = json.loads((FIXTURES / "tool_result_input.json").read_text())
    assert ev.tool_result_events("P", "T", "tu-7f3e2a1b", {"forecast": "rain"}) == expected
    assert ev.tool_result_events("P", "T", "id", "plain text")[1]["event"]["toolResult"]["content"] == "plain text"


def test_tool_spec_carries_the_input_schema_as_a_json_string() -> None:
    spec = ev.tool_spec("getWeatherTool", "Weather at a place", {"type": "object", "required": ["location"]})
    assert spec["toolSpec"]["name"] == "getWeatherTool"
    assert json.loads(spec["toolSpec"]["inputSchema"]["json"]) == {"type": "object", "required": ["location"]}
    opening = ev.opening_events("P", "sys", "A", tools=[spec])
    assert opening[1]["event"]["promptStart"]["toolConfiguration"] == {"tools": [spec]}


@pytest.mark.parametrize(("content", "expected"), [
    ('{"a": 1}', {"a": 1}), ({"a": 1}, {"a": 1}), ("", {}), ("not json", {}), ("[1, 2]", {}), (None, {}),
])
def test_tool_input_is_read_from_a_json_string_tolerantly(content: object, expected: dict[str, int]) -> None:
    assert ev.tool_input(content) == expected
