"""The settings the AWS backend adapters read, with their defaults, in one place.

The adapter table builds adapters as `Adapter(settings)` with the runtime's RuntimeSettings; any object works, and
each attribute below is read with getattr so a missing one takes its default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from typing import Any


def _region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


@dataclass(frozen=True)
class BackendSettings:
    region: str = field(default_factory=_region)
    # Where the voice backends are (the local emulators' URL in embedded mode; None = real AWS). Deliberately not
    # AWS_ENDPOINT_URL, which points the control-plane services (SSM) at moto.
    backend_endpoint_url: str | None = None
    bedrock_endpoint_url: str | None = None  # per-service overrides of backend_endpoint_url
    transcribe_endpoint_url: str | None = None
    polly_endpoint_url: str | None = None
    sagemaker_endpoint_url: str | None = None
    emulator_ca_file: str | None = None  # PEM to trust for a local emulator's TLS (None: system trust store)
    nova_voice_id: str = "matthew"
    nova_model_id: str = "amazon.nova-sonic-v1:0"
    system_prompts: dict[str, str] = field(default_factory=dict)  # system_prompt_key -> text
    default_system_prompt: str = "You are a friendly, concise voice assistant. Keep answers short."
    nova_silence_interval_ms: int = 160  # silence while a reply is due: one frame this long, this often
    nova_idle_keepalive_ms: int = 1000  # silence frames between turns (idle), this often
    # The silence sent at once when the user's turn ends, so the model hears the whole pause it waits for without
    # waiting for it in real time. Nova 2 Sonic's documented pauses are 1.5 / 1.75 / 2 s (endpointingSensitivity
    # HIGH / MEDIUM / LOW, the user guide's "Turn-taking controllability"): 2 s covers each.
    nova_end_pause_ms: int = 2000
    # After the reply's last audio and FINAL text, how long to wait for the usage event that follows them, so a
    # turn's tokens are counted with that turn.
    nova_usage_grace_ms: int = 250
    nova_tools: tuple[str, ...] = ()  # built-in tools offered to Nova Sonic (adapters.tools.BUILTIN_TOOLS)
    crt_connections: int = 8  # HTTP/2 connections per smithy client kind (all on one shared CRT event loop)
    # The two hooks on private SDK names (docs/backends.md has their measured gains): TCP_NODELAY on the CRT's
    # sockets, and the direct serializer of Nova Sonic's input chunks. Off only to measure them.
    crt_nodelay: bool = True
    nova_plain_input: bool = True
    nova_handover_seconds: float = 420.0  # hand a conversation to a fresh stream before the 8-minute limit
    turn_timeout_seconds: float = 15.0  # no output for this long fails the turn
    llm_model_id: str = "us.anthropic.claude-sonnet-4-6-v1:0"
    polly_voice_id: str = "Joanna"
    polly_engine: str = "generative"
    transcribe_language: str = "en-US"
    blocking_workers: int = 64  # threads for boto3's blocking streaming calls

    @classmethod
    def of(cls, settings: Any) -> BackendSettings:
        """Read every known attribute from `settings` (missing or None -> default).

        Also understood: `aws_region` (RuntimeSettings' name for the region) and a nested `backends` object or
        mapping holding any of these fields, which wins over top-level attributes.
        """
        if isinstance(settings, BackendSettings):
            return settings
        nested = getattr(settings, "backends", None) if settings is not None else None

        def read(source: Any, name: str) -> Any:
            if isinstance(source, dict):
                return source.get(name)
            return getattr(source, name, None) if source is not None else None

        values: dict[str, Any] = {}
        for f in fields(cls):
            value = read(nested, f.name)
            if value is None:
                value = read(settings, f.name)
            if value is None and f.name == "region":
                value = read(settings, "aws_region")
            if value is not None:
                values[f.name] = tuple(value) if f.name == "nova_tools" else value
        return cls(**values)

    def endpoint(self, service: str) -> str | None:
        """The endpoint for 'bedrock' | 'transcribe' | 'polly' | 'sagemaker' (None: the SDK's default)."""
        specific: str | None = getattr(self, f"{service}_endpoint_url")
        return specific or self.backend_endpoint_url
