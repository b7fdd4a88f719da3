"""The compiled registry: what `voicectl apply` writes to `<namespace>/registry` and what runtimes read.

It keeps only what the per-turn decision and the revert handler need, so it stays well under SSM's 4 KB
standard tier for files like the memo's. Its JSON Schema is generated from these models (`voicectl schema
--compiled`), never written by hand.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from registry.model import Backend, Registry

ASSIGNMENT_VERSION = 1


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CompiledVariant(_Frozen):
    backend: Backend
    transport: str
    internal_only: bool = False
    min_sdk_version: str | None = None
    deprecated: bool = False
    barge_in_enabled: bool = False
    bedrock_model_id: str | None = None
    system_prompt_key: str | None = None
    sagemaker_endpoint: str | None = None


class CompiledPhase(_Frozen):
    name: str
    weights: dict[str, int]
    internal_weights: dict[str, int] | None = None
    path: str | None = Field(default=None, description="The alternative path this phase belongs to, if any.")


class CompiledAlarm(_Frozen):
    revert: list[str] = Field(default_factory=list)
    notify: list[str] = Field(default_factory=list)
    rollback_deployment: bool = False


class CompiledRegistry(_Frozen):
    """The `registry` SSM parameter's JSON value."""

    format: Literal["voice-rollout/compiled-registry@1"] = "voice-rollout/compiled-registry@1"
    namespace: str
    baseline: str
    cache_ttl_seconds: int
    assignment_seed: str
    assignment_version: int = ASSIGNMENT_VERSION
    variants: dict[str, CompiledVariant]
    phases: list[CompiledPhase]
    alarms: dict[str, CompiledAlarm] = Field(default_factory=dict)
    deployment_group: str | None = None
    deployment_application: str | None = None
    digest: str = Field(description="sha256 of the rest, so a runtime can tell versions apart cheaply.")

    def phase(self, name: str) -> CompiledPhase | None:
        return next((p for p in self.phases if p.name == name), None)

    def to_json(self) -> str:
        """Canonical JSON: sorted keys, no spaces, so the same registry always gives the same bytes."""
        return json.dumps(self.model_dump(mode="json", exclude_none=True), sort_keys=True, separators=(",", ":"))


def compile_registry(registry: Registry) -> CompiledRegistry:
    """Registry -> the compact runtime view (pure, deterministic)."""
    variants = {
        name: CompiledVariant(
            backend=v.resolved_backend(),
            transport=v.transport.value,
            internal_only=v.internal_only,
            min_sdk_version=v.min_sdk_version,
            deprecated=v.deprecated,
            barge_in_enabled=v.barge_in_enabled,
            bedrock_model_id=v.bedrock_model_id,
            system_prompt_key=v.system_prompt_key,
            sagemaker_endpoint=v.sagemaker_endpoint,
        )
        for name, v in sorted(registry.variants.items())
    }
    phases = [CompiledPhase(name=p.name, weights=p.weights, internal_weights=p.internal_weights)
              for p in registry.phases]
    phases += [
        CompiledPhase(name=p.name, weights=p.weights, internal_weights=p.internal_weights, path=path_name)
        for path_name, path in sorted(registry.paths.items())
        for p in path.phases
    ]
    alarms = {
        name: CompiledAlarm(revert=a.actions.revert, notify=a.actions.notify,
                            rollback_deployment=a.actions.rollback_deployment)
        for name, a in sorted(registry.alarms.items())
    }
    body = {
        "namespace": registry.namespace,
        "baseline": registry.baseline,
        "cache_ttl_seconds": registry.cache_ttl_seconds,
        "assignment_seed": registry.assignment_seed,
        "variants": variants,
        "phases": phases,
        "alarms": alarms,
        "deployment_group": registry.deployment.deployment_group if registry.deployment else None,
        "deployment_application": registry.deployment.application if registry.deployment else None,
    }
    draft = CompiledRegistry(digest="", **body)
    digest = hashlib.sha256(draft.to_json().encode()).hexdigest()[:16]
    return draft.model_copy(update={"digest": digest})
