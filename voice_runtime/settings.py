"""Runtime settings: one pydantic model, built by `voicectl runtime serve` or by tests, passed down explicitly.

Nothing reads the environment at import time; adapters get the settings object in their constructor
(`Cls(settings)`), so the Nova Sonic / M1 / CSM adapters find their endpoints and regions here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from registry.model import Backend

API_GATEWAY_FRAME_LIMIT = 32 * 1024


class RuntimeSettings(BaseModel):
    """Everything the voice runtime needs to know, with defaults that match docs/protocol.md."""

    model_config = ConfigDict(extra="forbid")

    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=0, le=65535)
    namespace: str = "/silentinfinity/voice"
    fallback_baseline: str = Field(
        default="transcribe-polly-baseline", description="Served when the runtime never had a registry."
    )
    fallback_backend: Backend = Field(default=Backend.M1_PIPELINE, description="Backend of the fallback baseline.")
    default_cache_ttl_seconds: float = Field(default=30, gt=0, description="Until a registry names its own TTL.")
    ssm_timeout_seconds: float = Field(default=5, gt=0)
    internal_token: str | None = Field(default=None, description="When set, `internal: true` needs this token.")

    max_message_bytes: int = Field(default=API_GATEWAY_FRAME_LIMIT, ge=1024, le=1 << 20)
    max_output_frame_bytes: int = Field(default=9600, ge=2, le=API_GATEWAY_FRAME_LIMIT, multiple_of=2)
    max_turn_seconds: float = Field(default=60, gt=0)
    heartbeat_seconds: float | None = Field(default=30, description="WebSocket ping interval; None disables.")
    ping_timeout_seconds: float | None = 20
    idle_timeout_seconds: float = Field(default=120, gt=0)
    send_queue_frames: int = Field(default=256, ge=4, description="Bound of a session's outgoing queue.")
    send_timeout_seconds: float = Field(default=10, gt=0, description="A send blocked this long = slow consumer.")
    max_errors: int = Field(default=50, ge=1, description="Protocol errors tolerated per session before closing.")
    max_sessions: int = Field(default=2000, ge=1, description="Concurrent sessions; more are refused with 503.")
    barge_in_deadline_ms: float = Field(default=500, gt=0, description="Backend must end its turn within this.")
    backend_open_timeout_seconds: float = Field(default=10, gt=0)
    # Stopping (docs/reliability.md): SIGTERM drains for at most drain_seconds, then shutdown_seconds bound the
    # rest; the process is gone within drain_seconds + shutdown_seconds + EXIT_MARGIN whatever hangs.
    drain_seconds: float = Field(default=30, ge=0, description=(
        "On SIGTERM, how long turns in flight may finish; each session is closed with 1012 (reconnect) at its "
        "turn boundary, and whatever is left at the deadline."))
    shutdown_seconds: float = Field(default=5, gt=0, description=(
        "After the drain: the bound on closing connections and backends and flushing metrics."))
    max_session_seconds: float | None = Field(default=None, gt=0, description=(
        "A session older than this is closed with 1012 (reconnect) at its next turn boundary; None = no limit. "
        "The relay on ECS sets it so a deregistering task loses every session before the load balancer's "
        "deregistration delay ends (infra/components/relay_service.py)."))


    aws_endpoint_url: str | None = Field(default=None, description="SSM/CloudWatch endpoint (moto in embedded mode).")
    aws_region: str | None = None
    # Read by the AWS backend adapters (voice_runtime.adapters.backend_settings.BackendSettings.of): the backends'
    # endpoint (the local emulators in embedded mode), the CA to trust for them, system prompts by key.
    backend_endpoint_url: str | None = None
    emulator_ca_file: str | None = None
    system_prompts: dict[str, str] = Field(default_factory=dict)
    turn_timeout_seconds: float | None = None
    backends: dict[str, Any] = Field(
        default_factory=dict, description="Any BackendSettings field for the AWS adapters; wins over the above.")
    web_dir: Path | None = Field(default=None, description="Static files served at GET /; default voice_runtime/web.")
