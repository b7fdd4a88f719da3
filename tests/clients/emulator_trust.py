"""The one change the client tests make to clients nobody here wrote: their SDK's own CRT transport, trusting the
emulator's certificate instead of the system store (imported by the client scripts, which run in their own
virtualenvs with aws-sdk-bedrock-runtime 0.9)."""

from __future__ import annotations

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
