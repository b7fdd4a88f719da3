"""The CRT HTTP/2 transport for the smithy-based AWS SDKs (Bedrock bidirectional stream, Transcribe streaming).

Duplex event streams need HTTP/2, which the SDKs get only from `AWSCRTHTTPClient` (the default aiohttp transport
cannot stream both ways). The stock client always trusts the system store; `trusting_crt_client` can add one PEM
certificate (a local emulator's) so the same code runs against the emulators with verification left on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from awscrt import io as crt_io
from smithy_aws_core.identity import EnvironmentCredentialsResolver
from smithy_http.aio.crt import AWSCRTHTTPClient, AWSCRTHTTPClientConfig


class TrustingCRTHTTPClient(AWSCRTHTTPClient):
    """AWSCRTHTTPClient whose TLS context trusts `ca_pem` instead of the system store (when given)."""

    def __init__(self, ca_pem: bytes | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._ca_pem = ca_pem
        if ca_pem is not None:
            options = crt_io.TlsContextOptions()
            options.override_default_trust_store(ca_pem)
            self._tls_ctx = crt_io.ClientTlsContext(options)

    def __deepcopy__(self, memo: Any) -> TrustingCRTHTTPClient:
        # The SDK deep-copies its config (and so the transport) per client; keep the trust store and event loop.
        return TrustingCRTHTTPClient(self._ca_pem, eventloop=self._eventloop, client_config=self._config)


def crt_client(ca_file: str | Path | None) -> TrustingCRTHTTPClient:
    """A CRT transport forcing HTTP/2, trusting `ca_file` if given."""
    ca_pem = Path(ca_file).read_bytes() if ca_file else None
    return TrustingCRTHTTPClient(ca_pem, client_config=AWSCRTHTTPClientConfig(force_http_2=True))


def credentials_resolver() -> EnvironmentCredentialsResolver | None:
    """Environment credentials when set (tests, containers with injected keys); None lets the SDK use its chain."""
    if os.environ.get("AWS_ACCESS_KEY_ID") and os.environ.get("AWS_SECRET_ACCESS_KEY"):
        return EnvironmentCredentialsResolver()  # type: ignore[no-untyped-call]
    return None
