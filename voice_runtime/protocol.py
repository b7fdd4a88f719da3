"""The WebSocket protocol of docs/protocol.md as data: client message parsing, server message builders, codes.

Pure: no sockets here. `parse_text` turns a text frame into a typed message or raises ProtocolError with the
error code the client will see.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

PROTOCOL_VERSION = 1
RECONNECT_REASON = "server restarting: reconnect"


class ErrorCode(StrEnum):
    INVALID_JSON = "invalid_json"
    UNKNOWN_TYPE = "unknown_type"
    INVALID_MESSAGE = "invalid_message"
    WRONG_ORDER = "wrong_order"
    INVALID_AUDIO = "invalid_audio"
    TURN_TOO_LONG = "turn_too_long"
    UNAUTHORIZED = "unauthorized"
    BACKEND_ERROR = "backend_error"
    TOO_MANY_ERRORS = "too_many_errors"
    INTERNAL_ERROR = "internal_error"


class CloseCode(IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001
    POLICY = 1008
    TOO_BIG = 1009
    INTERNAL = 1011
    SERVICE_RESTART = 1012  # RFC 6455 registry: "Service Restart"; the client should reconnect at once
    IDLE_TIMEOUT = 4000
    SLOW_CONSUMER = 4001


class ProtocolError(Exception):
    """A client message the server refuses; `fatal` ones close the connection with `close_code`."""

    def __init__(self, code: ErrorCode, message: str, *, fatal: bool = False,
                 close_code: CloseCode = CloseCode.POLICY) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fatal = fatal
        self.close_code = close_code


class StartMessage(BaseModel):
    """The first client message: who is calling."""

    # Unknown fields are ignored so newer clients can add hints without breaking older servers.
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    type: str = "start"
    subject: str = Field(min_length=1, max_length=128)
    sdk_version: str | None = Field(default=None, pattern=r"^\d+(\.\d+){0,3}$", max_length=32)
    internal: bool = False
    token: str | None = Field(default=None, max_length=512)


@dataclass(frozen=True)
class Control:
    """A control message without fields of its own (end_turn, barge_in) or a ping with its echo id."""

    type: str
    id: Any = None


ClientMessage = StartMessage | Control
KNOWN_TYPES = frozenset({"start", "end_turn", "barge_in", "ping"})


def parse_text(text: str) -> ClientMessage:
    """A text frame -> a client message; ProtocolError(invalid_json | unknown_type | invalid_message)."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(ErrorCode.INVALID_JSON, "text frame is not valid JSON") from exc
    if not isinstance(data, dict):
        raise ProtocolError(ErrorCode.INVALID_JSON, "text frame must be a JSON object with a \"type\"")
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in KNOWN_TYPES:
        shown = repr(kind)[:40]
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {shown}; expected one of "
                            f"{', '.join(sorted(KNOWN_TYPES))}")
    if kind == "start":
        try:
            return StartMessage.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "start"
            raise ProtocolError(ErrorCode.INVALID_MESSAGE, f"start.{where}: {first['msg']}") from exc
    return Control(kind, data.get("id") if kind == "ping" else None)


def error(code: ErrorCode, message: str, *, fatal: bool = False, turn_id: str | None = None) -> dict[str, Any]:
    return {"type": "error", "code": code.value, "message": message, "fatal": fatal, "turn_id": turn_id}


def session_message(*, session_id: str, subject: str, internal: bool, max_message_bytes: int,
                    max_output_frame_bytes: int, max_turn_seconds: float, heartbeat_seconds: float | None,
                    idle_timeout_seconds: float) -> dict[str, Any]:
    pcm = {"encoding": "s16le", "channels": 1}
    return {
        "type": "session", "session_id": session_id, "protocol": PROTOCOL_VERSION, "subject": subject,
        "internal": internal, "input": {**pcm, "sample_rate": 16_000}, "output": {**pcm, "sample_rate": 24_000},
        "max_message_bytes": max_message_bytes, "max_output_frame_bytes": max_output_frame_bytes,
        "max_turn_seconds": max_turn_seconds, "heartbeat_seconds": heartbeat_seconds,
        "idle_timeout_seconds": idle_timeout_seconds,
    }


def dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"), default=str)
