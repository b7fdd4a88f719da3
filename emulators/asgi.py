"""Small ASGI helpers the emulators share: reading a whole request body and answering AWS-style errors."""

from __future__ import annotations

import json
from typing import Any


async def read_body(receive: Any) -> bytes:
    """The complete request body (for the unary-request operations)."""
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(parts)


async def aws_error(send: Any, status: int, error_type: str, message: str) -> None:
    """A REST-JSON error response as AWS sends it (`x-amzn-ErrorType` header plus a JSON message)."""
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"x-amzn-errortype", error_type.encode()),
        (b"x-amzn-requestid", b"emulated-request")]})
    await send({"type": "http.response.body", "body": json.dumps({"message": message}).encode()})


def header(scope: dict[str, Any], name: str, default: str = "") -> str:
    """A request header's value (case-insensitive)."""
    wanted = name.lower().encode()
    for key, value in scope.get("headers", []):
        if key.lower() == wanted:
            return str(value.decode("latin-1"))
    return default
