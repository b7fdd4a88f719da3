"""What the client scripts share (they run in their own virtualenvs, with aws-sdk-bedrock-runtime 0.9): the one
change made to the clients nobody here wrote, their SDK's own CRT transport trusting the emulator's certificate
instead of the system store; and the test's microphone and patience (a voice-like tone, a polling wait)."""

from __future__ import annotations

import asyncio
import math
from array import array
from collections.abc import Callable
from typing import Any

from awscrt import io as crt_io
from smithy_http.aio.crt import AWSCRTHTTPClient


class EmulatorTrust(AWSCRTHTTPClient):
    """AWSCRTHTTPClient whose TLS context trusts `ca_file` (the emulator's certificate)."""

    def __init__(self, ca_file: str) -> None:
        super().__init__()
        self._ca_file = ca_file
        options = crt_io.TlsContextOptions()
        with open(ca_file, "rb") as pem:
            options.override_default_trust_store(pem.read())
        self._tls_ctx = crt_io.ClientTlsContext(options)

    def __deepcopy__(self, memo: dict[int, Any]) -> EmulatorTrust:
        # The SDK deep-copies its config, transport included; a copied CRT TLS context does not connect.
        return EmulatorTrust(self._ca_file)


def tone(ms: int, rate: int = 16_000) -> bytes:
    """A voice-like tone (the microphone of the test), s16le mono."""
    return array("h", (int(9000 * math.sin(2 * math.pi * 180 * i / rate)) for i in range(rate * ms // 1000))).tobytes()


async def until(condition: Callable[[], Any], seconds: float = 30.0) -> None:
    """Wait (polling, as a person watching the console would) until `condition()` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError("the conversation stalled")
        await asyncio.sleep(0.05)
