"""Live state under the namespace (DESIGN.md) and the effective weights a runtime serves.

Three kinds of writer touch live state and none overwrites another's parameter:

| parameter                | written by                          |
| `registry`               | voicectl apply                      |
| `rollout/phase`          | voicectl advance / rollback         |
| `overrides/<variant>`    | revert handler, voicectl override   |
| `variant_overrides`      | on-call by hand (memo's runbook)    |
| `approvals/<phase>`      | voicectl approve (manual gates)     |
| `deprecations/<variant>` | voicectl decommission (Phase 4)     |

Everything here is pure: parsing parameter values and combining them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from registry.compiled import CompiledRegistry


def param_registry(ns: str) -> str:
    return f"{ns}/registry"


def param_phase(ns: str) -> str:
    return f"{ns}/rollout/phase"


def param_override(ns: str, variant: str) -> str:
    return f"{ns}/overrides/{variant}"


def param_runbook(ns: str) -> str:
    return f"{ns}/variant_overrides"


def param_approval(ns: str, phase: str) -> str:
    return f"{ns}/approvals/{phase}"


def param_deprecation(ns: str, variant: str) -> str:
    return f"{ns}/deprecations/{variant}"


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class PhaseRecord(_Record):
    """The `rollout/phase` value: which phase is active, and who moved it there, when and why."""

    phase: str
    path: str | None = None
    action: Literal["init", "advance", "rollback", "force"] = "advance"
    actor: str = "unknown"
    reason: str = ""
    at: datetime
    previous: str | None = None


class OverrideRecord(_Record):
    """An `overrides/<variant>` value: the variant's forced share and who set it."""

    variant: str
    share: int = Field(ge=0, le=100)
    source: Literal["alarm", "person"] = "person"
    actor: str = "unknown"
    alarm: str | None = None
    reason: str = ""
    at: datetime


class ApprovalRecord(_Record):
    phase: str
    approval: str
    score: float
    by: str
    at: datetime
    note: str = ""


class DeprecationRecord(_Record):
    variant: str
    actor: str = "unknown"
    reason: str = ""
    at: datetime


class LiveState(_Record):
    """Everything a runtime reads in its one batch per cache period."""

    registry: CompiledRegistry | None = None
    phase: PhaseRecord | None = None
    overrides: dict[str, OverrideRecord] = Field(default_factory=dict)
    runbook: dict[str, int] = Field(default_factory=dict)
    deprecated: frozenset[str] = frozenset()
    problems: tuple[str, ...] = Field(default=(), description="Values that did not parse and were ignored.")


def parse_runbook_map(text: str) -> dict[str, int]:
    """The memo's `{"sonic-unified": 0, "transcribe-polly-baseline": 100}`; raise ValueError if malformed."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("variant_overrides must be a JSON object of variant -> share")
    out: dict[str, int] = {}
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
            raise ValueError(f"variant_overrides[{key!r}] must be a number 0..100, got {value!r}")
        out[str(key)] = round(value)
    return out


def live_state_from_parameters(namespace: str, values: Mapping[str, str]) -> LiveState:
    """Build the live state from a `{parameter name: value}` map (as one GetParametersByPath returns it).

    Fails safe: a value that does not parse is skipped and named in `problems`, never raised, because a runtime
    must keep serving turns.
    """
    problems: list[str] = []
    fields: dict[str, Any] = {"overrides": {}, "deprecated": set()}

    def parse(name: str, build: Any) -> Any:
        try:
            return build(values[name])
        except (ValueError, ValidationError, TypeError) as exc:
            problems.append(f"{name}: {str(exc).splitlines()[0]}")
            return None

    if param_registry(namespace) in values:
        fields["registry"] = parse(param_registry(namespace), CompiledRegistry.model_validate_json)
    if param_phase(namespace) in values:
        fields["phase"] = parse(param_phase(namespace), PhaseRecord.model_validate_json)
    if param_runbook(namespace) in values:
        fields["runbook"] = parse(param_runbook(namespace), parse_runbook_map) or {}
    override_prefix = param_override(namespace, "")
    deprecation_prefix = param_deprecation(namespace, "")
    for name in sorted(values):
        if name.startswith(override_prefix):
            record = parse(name, OverrideRecord.model_validate_json)
            if record is not None:
                fields["overrides"][record.variant] = record
        elif name.startswith(deprecation_prefix):
            record = parse(name, DeprecationRecord.model_validate_json)
            if record is not None:
                fields["deprecated"].add(record.variant)
    fields["deprecated"] = frozenset(fields["deprecated"])
    return LiveState(problems=tuple(problems), **{k: v for k, v in fields.items() if v is not None})


def _force(weights: dict[str, float], forced: Mapping[str, float], baseline: str) -> dict[str, float]:
    """Pin `forced` variants to their shares; the rest share what remains in proportion to their weights,
    and it goes to the baseline when none of them has any."""
    pinned = {v: float(s) for v, s in forced.items() if v in weights}
    if not pinned:
        return weights
    pinned_total = sum(pinned.values())
    if pinned_total > 100:  # conflicting pins: scale them down rather than serve more than 100%
        pinned = {v: s * 100 / pinned_total for v, s in pinned.items()}
        pinned_total = 100.0
    free = {v: w for v, w in weights.items() if v not in pinned}
    remaining = 100.0 - pinned_total
    free_total = sum(free.values())
    out = dict(pinned)
    if free_total > 0:
        out.update({v: w * remaining / free_total for v, w in free.items()})
    else:
        out.update(dict.fromkeys(free, 0.0))
        if remaining > 0:
            target = baseline if baseline in free else max(pinned, key=lambda v: (pinned[v], v))
            out[target] = out.get(target, 0.0) + remaining
    return out


def effective_weights(state: LiveState, *, internal: bool = False) -> dict[str, float]:
    """The shares a runtime serves: the active phase's weights, then automated overrides, then the runbook map.

    Without a registry or a known phase, everything goes to the baseline (fail safe). Deprecated variants
    (in the file or by decommission) are forced to 0.
    """
    reg = state.registry
    if reg is None:
        return {}
    phase = reg.phase(state.phase.phase) if state.phase else reg.phases[0] if reg.phases else None
    if phase is None:
        return {name: (100.0 if name == reg.baseline else 0.0) for name in reg.variants}
    source = phase.internal_weights if internal and phase.internal_weights is not None else phase.weights
    weights = {name: float(source.get(name, 0)) for name in reg.variants}
    weights = _force(weights, {v: o.share for v, o in state.overrides.items()}, reg.baseline)
    weights = _force(weights, state.runbook, reg.baseline)
    dead = {v for v, c in reg.variants.items() if c.deprecated} | set(state.deprecated)
    if dead & {v for v, w in weights.items() if w > 0}:
        weights = _force(weights, dict.fromkeys(dead & set(weights), 0.0), reg.baseline)
    return {v: round(w, 6) for v, w in weights.items()}
