"""The registry file as pydantic v2 models: the single schema source.

Structural rules (types, unknown keys, formats) live here; cross-references between sections (weights name
declared variants, the baseline is eligible...) live in `registry.rules`, which reports every finding with a
location instead of stopping at the first.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag, field_validator

from registry.durations import parse_duration

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
SSM_PATH = r"^(/[A-Za-z0-9_.-]+)+$"
METRIC_NAMESPACE = r"^[^:][^:]{0,254}$"


class Strict(BaseModel):
    """Base of every registry section: unknown keys are errors and YAML types are taken as written."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Transport(StrEnum):
    SSE = "sse"
    WEBSOCKET = "websocket"


class Backend(StrEnum):
    """Which adapter serves a variant's turns in the voice runtime."""

    M1_PIPELINE = "m1_pipeline"
    NOVA_SONIC = "nova_sonic"
    CSM_SAGEMAKER = "csm_sagemaker"
    ECHO = "echo"


class Comparison(StrEnum):
    GREATER_THAN_OR_EQUAL = "GreaterThanOrEqualToThreshold"
    GREATER_THAN = "GreaterThanThreshold"
    LESS_THAN = "LessThanThreshold"
    LESS_THAN_OR_EQUAL = "LessThanOrEqualToThreshold"


class MissingData(StrEnum):
    BREACHING = "breaching"
    NOT_BREACHING = "notBreaching"
    IGNORE = "ignore"
    MISSING = "missing"


Duration = Annotated[str, Field(description="A duration such as 30s, 30m, 48h, 2d or 1h30m.")]


class Variant(Strict):
    """One way of serving a voice turn (fields as in the memo's variants.py)."""

    voice_stt: str = Field(description="Speech-to-text component, e.g. transcribe_streaming.")
    voice_llm: str = Field(description="Language model component, e.g. bedrock_claude_sonnet_4_6.")
    voice_tts: str = Field(description="Text-to-speech component, e.g. polly_generative.")
    transport: Annotated[Transport, Field(strict=False)]
    backend: Annotated[Backend, Field(strict=False)] | None = Field(
        default=None, description="Adapter serving the variant; derived from the components when omitted."
    )
    internal_only: bool = False
    min_sdk_version: str | None = Field(default=None, pattern=r"^\d+(\.\d+){0,3}$")
    deprecated: bool = False
    description: str = ""
    notes: str | None = None
    bedrock_model_id: str | None = None
    barge_in_enabled: bool = False
    system_prompt_key: str | None = None
    sagemaker_endpoint: str | None = None

    def resolved_backend(self) -> Backend:
        """The adapter for this variant: explicit `backend`, else inferred from its components."""
        if self.backend is not None:
            return self.backend
        parts = {self.voice_stt, self.voice_llm, self.voice_tts}
        if any("echo" in p for p in parts):
            return Backend.ECHO
        if any(p.startswith("nova_sonic") for p in parts):
            return Backend.NOVA_SONIC
        if any("csm" in p for p in parts) or self.sagemaker_endpoint:
            return Backend.CSM_SAGEMAKER
        return Backend.M1_PIPELINE


class MetricGate(Strict):
    """A metric that must stay below (or above) a limit over the whole bake window."""

    metric: str = Field(min_length=1, max_length=255)
    statistic: str
    namespace: str | None = Field(default=None, description="Defaults to the registry's metrics_namespace.")
    dimensions: dict[str, str] = Field(default_factory=dict)
    below: float | None = None
    above: float | None = None
    description: str | None = None


class ApprovalGate(Strict):
    """A manual sign-off, e.g. the memo's internal quality rating >= 4/5, recorded with `voicectl approve`."""

    approval: str = Field(min_length=1, description="What is being rated, e.g. mirror_tone_quality.")
    min_score: float
    max_score: float = 5
    description: str | None = None


def gate_kind(value: object) -> str:
    """Which gate a mapping is: an approval sign-off when it has `approval:`, else a metric gate."""
    if isinstance(value, dict):
        return "approval" if "approval" in value else "metric"
    return "approval" if isinstance(value, ApprovalGate) else "metric"


Gate = Annotated[
    Annotated[MetricGate, Tag("metric")] | Annotated[ApprovalGate, Tag("approval")], Discriminator(gate_kind)
]


class DecommissionAction(StrEnum):
    KEEP_WARM = "keep_warm"
    SCALE_TO_ZERO = "scale_to_zero"
    DEPRECATE = "deprecate"


class DecommissionStep(Strict):
    """A step due some time after the phase became active (memo Phase 4: keep M1 warm 72 h, deprecate at 2 weeks)."""

    after: Duration
    action: Annotated[DecommissionAction, Field(strict=False)]
    variant: str
    description: str = ""

    @field_validator("after")
    @classmethod
    def _after_parses(cls, value: str) -> str:
        parse_duration(value)
        return value


class Phase(Strict):
    """One step of the rollout: the weights it serves and what must hold before leaving it."""

    name: str = Field(pattern=NAME)
    weights: dict[str, int]
    internal_weights: dict[str, int] | None = Field(
        default=None, description="Weights for internal subjects only (the memo's Phase 2 internal shadow)."
    )
    bake: Duration | None = Field(default=None, description="Minimum time in this phase before advancing.")
    gates: list[Gate] = Field(default_factory=list)
    decommission: list[DecommissionStep] = Field(default_factory=list)
    description: str = ""

    @field_validator("bake")
    @classmethod
    def _bake_parses(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @property
    def bake_seconds(self) -> int:
        return parse_duration(self.bake) if self.bake else 0


class RolloutPath(Strict):
    """An alternative phase sequence taken at a decision gate (the memo's Path B, the CSM-1B fallback)."""

    branches_from: str = Field(description="The phase at whose exit this path may be taken.")
    phases: list[Phase] = Field(min_length=1)
    description: str = ""


class AlarmActions(Strict):
    notify: list[str] = Field(default_factory=list, description="SNS topic names to notify.")
    revert: list[str] = Field(default_factory=list, description="Variants whose share goes to 0.")
    rollback_deployment: bool = Field(default=False, description="Stop the active CodeDeploy deployment.")


class Alarm(Strict):
    """A CloudWatch alarm and what happens when it fires."""

    metric: str = Field(min_length=1, max_length=255)
    namespace: str | None = Field(default=None, description="Defaults to the registry's metrics_namespace.")
    statistic: str
    dimensions: dict[str, str] = Field(default_factory=dict)
    period: int = Field(description="Seconds: 10, 20, 30 or a multiple of 60.")
    evaluation_periods: int
    datapoints_to_alarm: int | None = None
    threshold: float
    comparison: Annotated[Comparison, Field(strict=False)]
    treat_missing_data: Annotated[MissingData, Field(strict=False)] = MissingData.MISSING
    unit: str | None = None
    evaluate_low_sample_count_percentile: Literal["evaluate", "ignore"] | None = Field(
        default=None, description="Percentile alarms: with too few samples, evaluate anyway or keep the state.")
    description: str = ""
    actions: AlarmActions = Field(default_factory=AlarmActions)


class Topic(Strict):
    display_name: str | None = None
    subscriptions: list[str] = Field(default_factory=list, description="E-mail addresses or HTTPS endpoints.")


class Deployment(Strict):
    """The CodeDeploy deployment group an alarm with rollback_deployment stops."""

    application: str
    deployment_group: str


class CostDriver(StrEnum):
    TURNS = "turns"
    INPUT_AUDIO_MINUTES = "input_audio_minutes"
    OUTPUT_AUDIO_MINUTES = "output_audio_minutes"
    INPUT_AUDIO_TOKENS = "input_audio_tokens"
    OUTPUT_AUDIO_TOKENS = "output_audio_tokens"
    INSTANCE_HOURS = "instance_hours"
    MONTHS = "months"


class CostItem(Strict):
    """One line of a variant's bill: unit price x quantity of its driver."""

    item: str
    driver: Annotated[CostDriver, Field(strict=False)]
    unit_price: float = Field(ge=0)
    quantity: float = Field(default=1, ge=0, description="Units of the driver per turn, instance or month.")
    memo_monthly: float | None = Field(default=None, description="The memo's figure, to show where it differs.")


class CostAssumptions(Strict):
    turns_per_month: int = Field(ge=0)
    input_audio_seconds_per_turn: float = Field(ge=0)
    output_audio_seconds_per_turn: float = Field(ge=0)
    audio_tokens_per_second: float = Field(ge=0)
    hours_per_month: float = Field(default=720, gt=0)


class Pricing(Strict):
    currency: str = "USD"
    assumptions: CostAssumptions
    variants: dict[str, list[CostItem]]


def _namespace_is_ssm_path(value: object) -> object:
    # A plain-words message instead of the regex: this is the most common first mistake.
    if isinstance(value, str) and not re.match(SSM_PATH, value):
        if not value.startswith("/"):
            raise ValueError("namespace must be an SSM path starting with '/', e.g. /yourco/voice")
        raise ValueError("namespace must be '/'-separated segments of letters, digits, '_', '.' or '-' "
                         "(no trailing or double '/')")
    return value


Namespace = Annotated[str, BeforeValidator(_namespace_is_ssm_path)]


class Registry(Strict):
    """The whole voice-m2.yaml file."""

    version: Literal[1]
    namespace: Namespace = Field(pattern=SSM_PATH, max_length=900)
    metrics_namespace: str = Field(pattern=METRIC_NAMESPACE)
    baseline: str
    cache_ttl_seconds: int = Field(default=30, ge=1, le=3600)
    assignment_seed: str = Field(default="voice-m2", min_length=1, description="Changing it reshuffles subjects.")
    variants: dict[str, Variant] = Field(min_length=1)
    phases: list[Phase] = Field(min_length=1)
    paths: dict[str, RolloutPath] = Field(default_factory=dict)
    alarms: dict[str, Alarm] = Field(default_factory=dict)
    topics: dict[str, Topic] = Field(default_factory=dict)
    deployment: Deployment | None = None
    pricing: Pricing | None = None

    def all_phases(self) -> list[Phase]:
        """The main sequence followed by every alternative path's phases."""
        return [*self.phases, *(p for path in self.paths.values() for p in path.phases)]

    def phase(self, name: str) -> Phase | None:
        return next((p for p in self.all_phases() if p.name == name), None)

    def metric_namespace_of(self, namespace: str | None) -> str:
        return namespace or self.metrics_namespace
